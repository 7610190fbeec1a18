"""Benchmark of `qingxin screen --jsonl` (risk screening issue figures). Run:

    python benchmarks/screen_throughput.py [--messages 100000]

Whole-process rate over MESSAGES messages of about 40 characters (start-up included), start-up
alone (empty input), and the same with the lexicon repeated to 10x its size, to show that
matching cost follows message length, not lexicon size. Each is run with the default worker
processes (one a CPU) and with ``--jobs 1`` (one process).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

DEV_SET = (Path(__file__).resolve().parent.parent / "knowledge" / "risk" / "training"
           / "screening_dev.yaml")
COMMAND = [sys.executable, "-m", "bot.cli", "screen", "--jsonl"]


def messages(count: int, seed: int = 7) -> str:
    """About 40 characters each, built from the labelled set's texts (mixed risk)."""
    texts = [row["text"] for row in yaml.safe_load(DEV_SET.read_text(encoding="utf-8"))]
    rng = random.Random(seed)
    lines = []
    for _ in range(count):
        text = rng.choice(texts)
        while len(text) < 36:
            text += " " + rng.choice(texts)
        lines.append(json.dumps({"text": text[:44]}, ensure_ascii=False))
    return "\n".join(lines) + "\n"


def timed(args: list[str], stdin_path: Path) -> tuple[float, int]:
    with stdin_path.open("rb") as stdin:
        started = time.perf_counter()
        done = subprocess.run(args, stdin=stdin, capture_output=True, check=True)
        elapsed = time.perf_counter() - started
    return elapsed, done.stdout.count(b"\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "messages.jsonl"
        data.write_text(messages(args.messages), encoding="utf-8")
        empty = Path(tmp) / "empty.jsonl"
        empty.write_text("")
        chars = sum(len(json.loads(line)["text"]) for line in data.read_text().splitlines())
        startup = min(timed(COMMAND, empty)[0] for _ in range(3))
        results = {"messages": args.messages, "mean_chars": chars / args.messages,
                   "startup_s": startup}
        for repeat, jobs in itertools.product((1, 10), ("default", "1")):
            options = ["--lexicon-repeat", str(repeat)] + (["--jobs", jobs] if jobs != "default"
                                                            else [])
            elapsed, lines = timed([*COMMAND, *options], data)
            assert lines == args.messages, (lines, args.messages)
            results[f"lexicon_x{repeat}_jobs_{jobs}"] = {
                "seconds": elapsed, "messages_per_s": args.messages / elapsed}
    print(json.dumps(results, indent=2))
    print(f"\nstart-up: {startup:.2f} s; {args.messages:,} messages of "
          f"{results['mean_chars']:.0f} chars on average:")
    for repeat, jobs in itertools.product((1, 10), ("default", "1")):
        rate = results[f"lexicon_x{repeat}_jobs_{jobs}"]["messages_per_s"]
        label = f"{os.cpu_count()} processes" if jobs == "default" else "one process"
        print(f"  lexicon x{repeat:<2} {label:>12}: {rate:,.0f} messages/s, whole process")


if __name__ == "__main__":
    main()
