"""The storage port: load a conversation, apply a step's records; group commit on its own thread.

Theory of operation:
- SQLAlchemy's synchronous Core runs on one dedicated thread; the async ``Repository`` hands it
  work, so the event loop never blocks on the disk. (Measured on the target machine: sync Core on
  sqlite3 did about 1,300 one-transaction messages/s where the asyncio ORM on aiosqlite did 200.)
- ``process`` is group commit: a batch of inbound events shares one transaction, each event in
  its own SAVEPOINT, so one failing event rolls back only itself. Nothing is returned (and so
  nothing is sent) before the transaction commits.
- On PostgreSQL a conversation row is locked (``FOR UPDATE``) from load to commit, so several
  processes keep each conversation's messages in order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, bindparam, delete, func, insert, select, update

from bot.core.cases.model import Case, DeskView, NeedDeskData
from bot.core.events import (
    Conversation,
    EraseConversation,
    Inbound,
    LogMessage,
    SaveConversation,
    SetActive,
    StepResult,
)
from bot.core.kb.answer import KbQuery, KbVote
from storage.desk_store import DeskStore, StaleCase
from storage.models import conversations, kb_events, messages, outbox, timers

log = logging.getLogger(__name__)
T = TypeVar("T")
Step = Callable[[Conversation | None, Inbound, DeskView], StepResult]
TimerStep = Callable[[str, Case, DeskView, datetime], list[object]]
RETRIES = 3  # a case that changed under an event (a lost claim race) is stepped again


@dataclass(frozen=True, slots=True)
class Pending:
    """An outbox message leased for delivery."""

    id: int
    key: str
    message: dict[str, Any]
    address: bytes | None


# Built once: constructing statements per message costs more than running them on SQLite.
_SELECT = select(conversations).where(conversations.c.key == bindparam("k"))
_SELECT_LOCKED = _SELECT.with_for_update()
_SAVED = ("channel", "flow", "state", "lang", "lang_locked", "slots", "updated_at")
_UPDATE = (update(conversations).where(conversations.c.key == bindparam("k"))
           .values({name: bindparam(f"v_{name}") for name in _SAVED}))
_INSERT = insert(conversations)
_INSERT_MESSAGES = insert(messages)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class Store:
    """Synchronous reads and writes inside one open transaction."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._lock = connection.dialect.name == "postgresql"
        self.desk = DeskStore(connection)
        self.addressed = False  # whether the last loaded conversation has its address stored

    def set_address(self, key: str, sealed: bytes) -> None:
        self.connection.execute(update(conversations).where(conversations.c.key == key)
                                .values(address=sealed, active=True))
    def load(self, key: str) -> Conversation | None:
        query = _SELECT_LOCKED if self._lock else _SELECT
        row = self.connection.execute(query, {"k": key}).mappings().first()
        self.addressed = row is not None and row["address"] is not None
        if row is None:
            return None
        return Conversation(key=row["key"], channel=row["channel"], flow=row["flow"],
                            state=row["state"], lang=row["lang"], lang_locked=row["lang_locked"],
                            slots=row["slots"] or {}, created_at=_aware(row["created_at"]),
                            updated_at=_aware(row["updated_at"]))

    def apply(self, records: Sequence[object]) -> None:
        logs: list[dict[str, Any]] = []
        for record in records:
            if self.desk.apply(record):
                continue
            if isinstance(record, SaveConversation):
                self._save(record.conversation)
            elif isinstance(record, LogMessage):
                logs.append({"conversation_key": record.key, "direction": str(record.direction),
                             "kind": record.kind, "body": record.body, "state": record.state,
                             "created_at": record.at})
            elif isinstance(record, EraseConversation):
                self.erase(record.key)
            elif isinstance(record, KbQuery):
                self.connection.execute(insert(kb_events).values(
                    kind="query", question=record.question, entry_id=record.top_id,
                    confidence=record.confidence, answered=record.answered, at=record.at))
            elif isinstance(record, KbVote):
                self.connection.execute(insert(kb_events).values(
                    kind="vote", entry_id=record.entry_id, helpful=record.helpful, at=record.at))
            elif isinstance(record, SetActive):
                self.connection.execute(update(conversations)
                                        .where(conversations.c.key == record.key)
                                        .values(active=record.active))
            else:
                raise TypeError(f"no storage for {type(record).__name__}")
        if logs:
            self.connection.execute(_INSERT_MESSAGES, logs)

    def _save(self, conversation: Conversation) -> None:
        values = {"channel": conversation.channel, "flow": conversation.flow,
                  "state": conversation.state, "lang": conversation.lang,
                  "lang_locked": conversation.lang_locked, "slots": dict(conversation.slots),
                  "updated_at": conversation.updated_at}
        done = self.connection.execute(_UPDATE, {"k": conversation.key,
                                                 **{f"v_{n}": v for n, v in values.items()}})
        if done.rowcount == 0:
            self.connection.execute(_INSERT, {"key": conversation.key,
                                              "created_at": conversation.created_at, **values})

    def erase(self, key: str) -> None:
        self.connection.execute(delete(messages).where(messages.c.conversation_key == key))
        self.connection.execute(delete(conversations).where(conversations.c.key == key))

    def message_log(self, key: str) -> list[dict[str, Any]]:
        query = (select(messages.c.direction, messages.c.kind, messages.c.body, messages.c.state)
                 .where(messages.c.conversation_key == key).order_by(messages.c.id))
        return [dict(row) for row in self.connection.execute(query).mappings()]

    def counts(self) -> dict[str, int]:
        def count(table: Any) -> int:
            return self.connection.execute(select(func.count()).select_from(table)).scalar_one()

        return {"conversations": count(conversations), "messages": count(messages)}


class Repository:
    """Async facade: every database call runs on one thread of its own."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qingxin-db")

    async def call(self, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, work)

    async def process(self, events: Sequence[Inbound], step: Step,
                      addresses: Mapping[str, bytes] | None = None) -> list[StepResult | None]:
        """Load, step and store each event; commit once. None marks an event that failed.
        ``addresses`` holds sealed channel addresses of the events' conversations."""
        return await self.call(lambda: self._process(events, step, addresses or {}))

    def _process(self, events: Sequence[Inbound], step: Step,
                 addresses: Mapping[str, bytes]) -> list[StepResult | None]:
        results: list[StepResult | None] = []
        with self.engine.begin() as connection:
            store = Store(connection)
            for inbound in events:
                results.append(self._one(connection, store, inbound, step,
                                         addresses.get(inbound.key)))
        return results

    def _one(self, connection: Connection, store: Store, inbound: Inbound, step: Step,
             address: bytes | None = None) -> StepResult | None:
        """Step and store one event in its own savepoint; None when it failed."""
        for _attempt in range(RETRIES):
            savepoint = connection.begin_nested()
            try:
                conversation = store.load(inbound.key)
                view = store.desk.light_view(inbound)
                try:
                    result = step(conversation, inbound, view)
                except NeedDeskData:
                    result = step(conversation, inbound,
                                  store.desk.full_view(inbound, view.counselor))
                store.apply(result.records)
                if address is not None and not store.addressed and result.conversation:
                    store.set_address(inbound.key, address)
            except StaleCase:
                savepoint.rollback()
                continue
            except Exception:
                savepoint.rollback()
                log.exception("event failed", extra={"conversation": inbound.key[:12]})
                return None
            savepoint.commit()
            return result
        log.error("event gave up after %d stale-case retries", RETRIES)
        return None

    # -- the outbox and timers (run by bot.runtime.worker) ------------------------------------

    async def lease_outbox(self, now: datetime, *, channel: str | None = None,
                           keys: Sequence[str] | None = None, limit: int = 100,
                           lease: timedelta = timedelta(seconds=60)) -> list[Pending]:
        """Take up to ``limit`` unsent messages for ``lease`` (only those for ``channel`` or
        ``keys`` when given); other workers skip them."""
        return await self.call(lambda: self._lease_outbox(now, channel, keys, limit, lease))

    def _lease_outbox(self, now: datetime, channel: str | None, keys: Sequence[str] | None,
                      limit: int, lease: timedelta) -> list[Pending]:
        with self.engine.begin() as connection:
            query = (select(outbox.c.id, outbox.c.conversation_key, outbox.c.message,
                            conversations.c.address)
                     .join(conversations, conversations.c.key == outbox.c.conversation_key,
                           isouter=True)
                     .where(outbox.c.sent.is_(False),
                            (outbox.c.lease_until.is_(None)) | (outbox.c.lease_until < now))
                     .order_by(outbox.c.id).limit(limit))
            if channel is not None:
                query = query.where(conversations.c.channel == channel)
            if keys is not None:
                query = query.where(outbox.c.conversation_key.in_(list(keys)))
            if connection.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True, of=outbox)
            rows = list(connection.execute(query).mappings())
            if rows:
                connection.execute(update(outbox).where(outbox.c.id.in_([r["id"] for r in rows]))
                                   .values(lease_until=now + lease,
                                           attempts=outbox.c.attempts + 1))
        return [Pending(id=r["id"], key=r["conversation_key"], message=r["message"],
                        address=r["address"]) for r in rows]

    async def mark_sent(self, ids: Sequence[int]) -> None:
        def run() -> None:
            with self.engine.begin() as connection:
                connection.execute(update(outbox).where(outbox.c.id.in_(list(ids)))
                                   .values(sent=True))

        if ids:
            await self.call(run)

    async def fire_timers(self, now: datetime, fire: TimerStep, limit: int = 50) -> int:
        """Fire due timers, each in its own savepoint; returns how many fired."""
        return await self.call(lambda: self._fire_timers(now, fire, limit))

    def _fire_timers(self, now: datetime, fire: TimerStep, limit: int) -> int:
        fired = 0
        with self.engine.begin() as connection:
            query = (select(timers).where(timers.c.done.is_(False), timers.c.due_at <= now)
                     .order_by(timers.c.due_at).limit(limit))
            if connection.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            store = Store(connection)
            for row in list(connection.execute(query).mappings()):
                savepoint = connection.begin_nested()
                try:
                    case = store.desk.case(row["case_id"])
                    if case is not None:
                        view = store.desk.timer_view(case)
                        store.apply(fire(row["kind"], case, view, now))
                    connection.execute(update(timers).where(timers.c.id == row["id"])
                                       .values(done=True))
                except Exception:
                    savepoint.rollback()
                    log.exception("timer %s failed", row["id"])
                    continue
                savepoint.commit()
                fired += 1
        return fired

    async def read(self, work: Callable[[Store], T]) -> T:
        """Run read-only ``work`` in a transaction of its own."""

        def run() -> T:
            with self.engine.begin() as connection:
                return work(Store(connection))

        return await self.call(run)

    async def close(self) -> None:
        await self.call(self.engine.dispose)
        self._thread.shutdown(wait=True)
