"""Benchmark of escalation to counselors (issue 4 figures). Run:

    python benchmarks/escalation.py [--postgres URL]

1. Latency: with 10 counselors on duty, 300 teens each send one crisis message; the time from
   handing the message to the repository to the commit of the case and of a notification row
   for every on-duty counselor (in-process, SQLite file; p50/p99).
2. 200 simultaneous escalations, then 10 counselors, each on its own connection, claiming cases
   at random at the same time until none waits: every case must end claimed exactly once and
   none lost. On SQLite, and on PostgreSQL (default: the local server; skipped if unreachable).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from bot.app import build_engine
from bot.core.events import Inbound
from bot.settings import load_settings
from storage import operations
from storage.database import open_database
from storage.models import case_events, cases, outbox
from storage.repository import Repository

T0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
CRISIS = ["我不想活了", "I want to kill myself", "我想紫砂，真的撑不下去了",
          "我覺得活著沒意思，想結束生命", "i'm going to end it tonight", "我把药都攒好了"]


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=10)
        return self.now


async def send(repo: Repository, engine, clock: Clock, user: str, text: str | None = None,
               button: str | None = None):
    event = Inbound(channel="bench", key=user, at=clock(), text=text, button=button)
    [result] = await repo.process([event], engine.step)
    return result


async def counselors(repo: Repository, engine, clock: Clock, count: int) -> list[str]:
    names = []
    for i in range(count):
        name = f"counselor{i}"
        code, _ = operations.invite(repo.engine, "psych" if i % 3 else "supervisor", name,
                                    clock())
        await send(repo, engine, clock, name, f"/counselor {code}")
        await send(repo, engine, clock, name, "/duty on")
        names.append(name)
    return names


async def latency(url: str, engine, teens: int = 300) -> dict:
    repo, clock = Repository(open_database(url)), Clock()
    await counselors(repo, engine, clock, 10)
    samples = []
    for i in range(teens):
        started = time.perf_counter()
        result = await send(repo, engine, clock, f"teen{i}", CRISIS[i % len(CRISIS)])
        samples.append((time.perf_counter() - started) * 1000)
        assert result is not None and result.risk in ("high", "imminent")
    with repo.engine.begin() as connection:
        notifications = connection.execute(sa.select(sa.func.count()).select_from(outbox)
                                           .where(outbox.c.conversation_key.like("counselor%"))
                                           ).scalar_one()
    await repo.close()
    samples.sort()
    return {"escalations": teens, "notifications_written": notifications,
            "p50_ms": samples[len(samples) // 2], "p99_ms": samples[int(len(samples) * .99) - 1],
            "max_ms": samples[-1]}


async def claim_race(url: str, engine, escalations: int = 200, claimers: int = 10) -> dict:
    setup, clock = Repository(open_database(url)), Clock()
    names = await counselors(setup, engine, clock, claimers)
    started = time.perf_counter()
    await asyncio.gather(*(send(setup, engine, clock, f"teen{i}", CRISIS[i % len(CRISIS)])
                           for i in range(escalations)))
    repos = [Repository(open_database(url)) for _ in names]
    won: dict[str, list[int]] = {name: [] for name in names}

    async def claim(name: str, repo: Repository, rng: random.Random) -> None:
        open_ids = list(range(1, escalations + 1))
        while open_ids:
            number = rng.choice(open_ids)
            result = await send(repo, engine, clock, name, button=f"case:claim:{number}")
            open_ids.remove(number)
            if result is not None and ("你接了" in result.outbound[0].text
                                       or "You have case" in result.outbound[0].text):
                won[name].append(number)

    await asyncio.gather(*(claim(name, repo, random.Random(i))
                           for i, (name, repo) in enumerate(zip(names, repos, strict=True))))
    elapsed = time.perf_counter() - started
    with setup.engine.begin() as connection:
        states = dict(connection.execute(sa.select(cases.c.state, sa.func.count())
                                         .group_by(cases.c.state)).all())
        claims = connection.execute(sa.select(case_events.c.case_id, sa.func.count())
                                    .where(case_events.c.trigger == "claim")
                                    .group_by(case_events.c.case_id)).all()
    for repo in (*repos, setup):
        await repo.close()
    claimed = sorted(n for numbers in won.values() for n in numbers)
    return {"escalations": escalations, "counselors": claimers, "seconds": elapsed,
            "case_states": states, "cases_claimed_once": sum(1 for _, n in claims if n == 1),
            "cases_claimed_more_than_once": sum(1 for _, n in claims if n > 1),
            "claims_won": len(claimed), "distinct_cases_won": len(set(claimed)),
            "per_counselor": {name: len(numbers) for name, numbers in won.items()}}


def postgres_schema(url: str) -> tuple[str, sa.Engine] | None:
    try:
        admin = sa.create_engine(url, connect_args={"connect_timeout": 2})
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        with admin.begin() as connection:
            connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # a benchmark reports what it could not run
        print(f"PostgreSQL skipped: {str(exc).splitlines()[0]}")
        return None
    return f"{url}?options=-csearch_path%3D{schema}", admin


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    engine = build_engine(load_settings())
    results: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["latency_sqlite"] = await latency(f"sqlite:///{Path(tmp) / 'l.db'}", engine)
        results["race_sqlite"] = await claim_race(f"sqlite:///{Path(tmp) / 'r.db'}", engine)
    made = postgres_schema(args.postgres)
    if made is not None:
        url, admin = made
        try:
            results["race_postgres"] = await claim_race(url, engine)
        finally:
            schema = url.rsplit("%3D", 1)[1]
            with admin.begin() as connection:
                connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    print(json.dumps(results, indent=2, ensure_ascii=False))
    lat = results["latency_sqlite"]
    print(f"\ncrisis message -> case + notifications committed for 10 on-duty counselors: "
          f"p50 {lat['p50_ms']:.1f} ms, p99 {lat['p99_ms']:.1f} ms")
    for name in ("race_sqlite", "race_postgres"):
        if name in results:
            race = results[name]
            print(f"{name}: {race['escalations']} escalations, {race['counselors']} counselors: "
                  f"claimed once {race['cases_claimed_once']}, more than once "
                  f"{race['cases_claimed_more_than_once']}, states {race['case_states']}")


if __name__ == "__main__":
    asyncio.run(main())
