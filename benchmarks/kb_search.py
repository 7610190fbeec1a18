"""Benchmark of knowledge-base search (issue 6 figures). Run:

    python benchmarks/kb_search.py

Search time per question (p50/p99) with the shipped entries, and with them repeated until there
are 1,000, 3,000 and 10,000 entries (ids made unique), to show how cost grows. Questions are the
labelled paraphrases in tests/data/kb_paraphrases.yaml when present, else the entries' own.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.app import build_knowledge_base  # noqa: E402
from bot.core.kb.search import Index  # noqa: E402

PARAPHRASES = Path(__file__).resolve().parent.parent / "tests" / "data" / "kb_paraphrases.yaml"


def timings(index: Index, questions: list[str], rounds: int = 3) -> dict:
    samples = []
    for _ in range(rounds):
        for question in questions:
            started = time.perf_counter()
            index.search(question, 3)
            samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return {"entries": len(index.entries), "searches": len(samples),
            "p50_ms": samples[len(samples) // 2], "p99_ms": samples[int(len(samples) * .99) - 1]}


def main() -> None:
    kb = build_knowledge_base()
    if kb is None:
        raise SystemExit("no knowledge base entries")
    entries = list(kb.knowledge.entries)
    if PARAPHRASES.exists():
        questions = [row["text"] for row in yaml.safe_load(PARAPHRASES.read_text("utf-8"))]
    else:
        questions = [q for e in entries for q in e.questions.zh[:1]]
    results = [timings(kb.index, questions)]
    for size in (1_000, 3_000, 10_000):
        copies = [e.model_copy(update={"id": f"{e.id}_{i}"}) for i in range(size // len(entries)
                                                                          + 1) for e in entries]
        started = time.perf_counter()
        index = Index(copies[:size], kb.index.synonyms)
        built = time.perf_counter() - started
        results.append({**timings(index, questions, rounds=1), "build_s": built})
    print(json.dumps(results, indent=2))
    for row in results:
        print(f"{row['entries']:>6} entries: p50 {row['p50_ms']:.2f} ms, "
              f"p99 {row['p99_ms']:.2f} ms")


if __name__ == "__main__":
    main()
