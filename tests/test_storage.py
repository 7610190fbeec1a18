"""The storage port's conformance suite: the same behaviour on SQLite and PostgreSQL."""

import asyncio
from datetime import timedelta

import pytest

from bot.core.events import Inbound
from storage.database import StorageUnavailable, open_database
from storage.repository import Repository
from tests.conftest import T0


def inbound(key: str, n: int, text: str | None = "hi", button: str | None = None) -> Inbound:
    return Inbound(channel="test", key=key, at=T0 + timedelta(seconds=n), text=text,
                   button=button)


@pytest.fixture
async def repository(database_url):
    repo = Repository(open_database(database_url))
    yield repo
    await repo.close()


async def test_a_conversation_is_stored_and_continues(repository, engine):
    [first] = await repository.process([inbound("k", 1)], engine.step)
    [second] = await repository.process([inbound("k", 2, button="main.welcome:teen")],
                                        engine.step)
    assert second.conversation.where == "teen.menu"
    stored = await repository.read(lambda store: store.load("k"))
    assert stored == second.conversation
    assert stored.created_at == first.conversation.created_at
    log = await repository.read(lambda store: store.message_log("k"))
    assert [(m["direction"], m["kind"]) for m in log] == [
        ("in", "text"), ("out", "text"), ("in", "button"), ("out", "text")]
    assert log[2]["body"] == "main.welcome:teen"


async def test_group_commit_keeps_each_users_order(repository, engine):
    events = []
    for n in range(3):
        events += [inbound(f"user{u}", n, text=None if n else "hi",
                           button="main.welcome:parent" if n == 1 else
                           ("parent.menu:nope" if n == 2 else None)) for u in range(5)]
    results = await repository.process(events, engine.step)
    assert all(r is not None for r in results)
    for u in range(5):
        stored = await repository.read(lambda store, u=u: store.load(f"user{u}"))
        assert stored.where == "parent.menu"
    counts = await repository.read(lambda store: store.counts())
    assert counts["conversations"] == 5


async def test_one_failing_event_rolls_back_only_itself(repository, engine):
    def step(conversation, event, desk):
        if event.key == "bad":
            engine.step(conversation, event, desk)
            raise RuntimeError("boom")
        return engine.step(conversation, event, desk)

    results = await repository.process([inbound("a", 1), inbound("bad", 1), inbound("b", 1)], step)
    assert results[0] is not None and results[1] is None and results[2] is not None
    assert await repository.read(lambda store: store.load("bad")) is None
    assert (await repository.read(lambda store: store.counts()))["conversations"] == 2


async def test_forget_erases_the_conversation_and_its_messages(repository, engine):
    steps = [inbound("k", 1), inbound("k", 2, text="/forget"),
             inbound("k", 3, text=None, button="system.forget_confirm:confirm")]
    for event in steps:
        await repository.process([event], engine.step)
    assert await repository.read(lambda store: store.load("k")) is None
    assert await repository.read(lambda store: store.message_log("k")) == []


async def test_unicode_edge_cases_are_stored(repository, engine):
    text = "e\u0301 \u202e right-to-left 😀 " + "字" * 10_000
    [result] = await repository.process([inbound("k", 1, text=text)], engine.step)
    assert result is not None
    log = await repository.read(lambda store: store.message_log("k"))
    assert log[0]["body"].endswith("字")


async def test_restart_continues_where_the_conversation_was(database_url, engine):
    first = Repository(open_database(database_url))
    await first.process([inbound("k", 1), inbound("k", 2, button="main.welcome:parent")],
                        engine.step)
    await first.close()
    second = Repository(open_database(database_url))
    [result] = await second.process([inbound("k", 3, text="")], engine.step)
    await second.close()
    assert result.outbound[0].state == "parent.menu"


async def test_concurrent_batches_on_two_repositories(database_url, engine):
    one, two = Repository(open_database(database_url)), Repository(open_database(database_url))
    await asyncio.gather(*(repo.process([inbound(f"{name}{i}", 1) for i in range(20)],
                                        engine.step)
                           for name, repo in (("a", one), ("b", two))))
    counts = await one.read(lambda store: store.counts())
    await one.close()
    await two.close()
    assert counts["conversations"] == 40


def test_unreachable_database_is_one_clear_line():
    with pytest.raises(StorageUnavailable) as caught:
        open_database("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
    message = str(caught.value)
    assert "QINGXIN_DATABASE_URL" in message and "\n" not in message


def test_malformed_database_url():
    with pytest.raises(StorageUnavailable, match="QINGXIN_DATABASE_URL"):
        open_database("not a url")


def test_missing_driver():
    with pytest.raises(StorageUnavailable, match="QINGXIN_DATABASE_URL"):
        open_database("mysql+nosuchdriver://x@127.0.0.1/db")
