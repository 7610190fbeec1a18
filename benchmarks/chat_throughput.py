"""Benchmark of `qingxin chat --jsonl` (Foundation issue figures). Run:

    python benchmarks/chat_throughput.py [--users 500] [--messages 20] [--latency 1000]

1. Throughput: USERS interleaved users x MESSAGES each through one `qingxin chat --jsonl`
   process on a fresh SQLite file, every message committed before its reply is written; the clock
   starts after the first reply (start-up excluded) and stops at the reply to a final sentinel
   line. Beside it, bare `sqlite3` doing one committed insert per message in the same folder, with
   the same journal settings (WAL, synchronous=NORMAL), in the same run.
2. Latency: a warm process, one message at a time; time from writing the line to reading its
   first reply (so it includes the pipe both ways).
3. Start-up: from starting the process to the first reply on a fresh data folder.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

COMMAND = [sys.executable, "-m", "bot.cli", "chat", "--jsonl"]


def script_for(user: int, count: int) -> list[dict]:
    """A realistic mix: greeting, role choice, menus, free text, commands, stale buttons."""
    cycle = [
        {"text": "你好"}, {"button": "main.welcome:teen"}, {"text": "/help"},
        {"button": "system.help:back"}, {"text": "我最近压力好大，睡不着"}, {"text": "/menu"},
        {"button": "teen.menu:nope"}, {"text": "/lang en"}, {"button": "system.lang_en:back"},
        {"text": "what can I do"}, {"text": "/start"}, {"button": "main.welcome:parent"},
        {"text": ""}, {"text": "/human"}, {"button": "system.human:menu"},
        {"text": "孩子不愿意上学怎么办"}, {"text": "/menu"}, {"button": "main.welcome:about"},
        {"text": "🙂"}, {"text": "/help"},
    ]
    return [{"user": f"u{user}", **cycle[i % len(cycle)]} for i in range(count)]


def _env(data_dir: Path) -> dict[str, str]:
    return {**os.environ, "QINGXIN_DATA_DIR": str(data_dir), "QINGXIN_DATABASE_URL": "",
            "QINGXIN_SECRET": "benchmark-secret-not-for-production"}


def _start(data_dir: Path) -> subprocess.Popen:
    return subprocess.Popen(COMMAND, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            env=_env(data_dir), text=True, encoding="utf-8", bufsize=1)


def _send(process: subprocess.Popen, line: dict) -> None:
    process.stdin.write(json.dumps(line, ensure_ascii=False) + "\n")
    process.stdin.flush()


def _read_until(process: subprocess.Popen, user: str) -> int:
    for lines, raw in enumerate(process.stdout, start=1):
        if json.loads(raw)["user"] == user:
            return lines
    raise RuntimeError("qingxin stopped before answering")


def throughput(folder: Path, users: int, messages: int) -> dict:
    lines = [m for step in range(messages) for u in range(users)
             for m in [script_for(u, messages)[step]]]
    process = _start(folder / "throughput")
    _send(process, {"user": "warmup", "text": "hi"})
    _read_until(process, "warmup")
    payload = "".join(json.dumps(m, ensure_ascii=False) + "\n" for m in lines)
    payload += json.dumps({"user": "sentinel", "text": "hi"}) + "\n"

    def write() -> None:
        process.stdin.write(payload)
        process.stdin.flush()

    started = time.perf_counter()
    writer = threading.Thread(target=write)
    writer.start()
    replies = _read_until(process, "sentinel")
    elapsed = time.perf_counter() - started
    writer.join()
    process.stdin.close()
    process.wait(timeout=60)
    database = sqlite3.connect(folder / "throughput" / "qingxin.db")
    stored = database.execute("select count(*) from messages where direction='in'").fetchone()[0]
    database.close()
    return {"messages": len(lines), "replies": replies - 1, "seconds": elapsed,
            "messages_per_s": len(lines) / elapsed, "inbound_rows_stored": stored - 2}


def bare_sqlite(folder: Path, count: int) -> dict:
    path = folder / "bare.db"
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("create table messages (id integer primary key, key text, body text)")
    started = time.perf_counter()
    for i in range(count):
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("insert into messages (key, body) values (?, ?)",
                           (f"u{i % 500}", "你好"))
        connection.execute("COMMIT")
    elapsed = time.perf_counter() - started
    connection.close()
    return {"inserts": count, "seconds": elapsed, "inserts_per_s": count / elapsed}


def latency(folder: Path, count: int) -> dict:
    cycle = [{"text": "/help"}, {"button": "system.help:back"}, {"text": ""},
             {"button": "main.welcome:teen"}, {"text": "/start"}]
    process = _start(folder / "latency")
    _send(process, {"user": "one", "text": "hi"})
    _read_until(process, "one")
    for line in cycle * 20:  # warm
        _send(process, {"user": "one", **line})
        process.stdout.readline()
    samples = []
    for i in range(count):
        started = time.perf_counter()
        _send(process, {"user": "one", **cycle[i % len(cycle)]})
        process.stdout.readline()
        samples.append((time.perf_counter() - started) * 1000)
    process.stdin.close()
    process.wait(timeout=60)
    samples.sort()
    return {"messages": count, "p50_ms": samples[len(samples) // 2],
            "p99_ms": samples[int(len(samples) * 0.99) - 1], "max_ms": samples[-1]}


def startup(folder: Path, runs: int = 5) -> dict:
    samples = []
    for run in range(runs):
        started = time.perf_counter()
        process = _start(folder / f"startup{run}")
        _send(process, {"user": "first", "text": "你好"})
        process.stdout.readline()
        samples.append(time.perf_counter() - started)
        process.stdin.close()
        process.wait(timeout=60)
    return {"runs": runs, "median_s": statistics.median(samples), "max_s": max(samples)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--latency", type=int, default=1000)
    parser.add_argument("--dir", type=Path, help="folder for the databases (default: a temp one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        folder = Path(tmp)
        results = {
            "throughput": throughput(folder, args.users, args.messages),
            "bare_sqlite3": bare_sqlite(folder, args.users * args.messages),
            "latency": latency(folder, args.latency),
            "startup": startup(folder),
        }
    t, b, lat, s = (results[k] for k in ("throughput", "bare_sqlite3", "latency", "startup"))
    print(json.dumps(results, indent=2))
    print(f"\nthroughput: {t['messages_per_s']:,.0f} messages/s through qingxin chat --jsonl "
          f"({t['messages']:,} messages, {t['replies']:,} replies, "
          f"{t['inbound_rows_stored']:,} inbound rows stored)")
    print(f"bare sqlite3, one committed insert per message: {b['inserts_per_s']:,.0f}/s")
    print(f"latency one at a time: p50 {lat['p50_ms']:.2f} ms, p99 {lat['p99_ms']:.2f} ms")
    print(f"start-up to first reply: median {s['median_s']:.2f} s, max {s['max_s']:.2f} s")


if __name__ == "__main__":
    main()
