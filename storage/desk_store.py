"""Reading the desk view for one event and writing the desk's records.

Exceptions:
    StaleCase -- a case changed since it was loaded (another counselor claimed it first); the
                 repository rolls the event back and steps it again on fresh rows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, text, update

from bot.core.cases.lifecycle import OPEN_STATES, WAITING_STATES, CaseTransition
from bot.core.cases.model import (
    Audit,
    Case,
    Counselor,
    Deliver,
    DeskView,
    Invite,
    Note,
    SaveCase,
    SaveCounselor,
    Schedule,
    UseInvite,
)
from bot.core.events import Inbound
from bot.core.text import parse_command
from storage.models import (
    audit_log,
    case_events,
    case_notes,
    cases,
    counselors,
    invites,
    messages,
    outbox,
    timers,
)

RECENT_MESSAGES = 10
QUEUE_LIMIT = 50


class StaleCase(Exception):
    """The case is no longer in the state the event was decided on."""


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def hash_code(code: str) -> str:
    return hashlib.sha256(code.strip().encode()).hexdigest()


def case_from_row(row: Any) -> Case:
    return Case(id=row["id"], key=row["conversation_key"], state=row["state"],
                skill=row["skill"], risk=row["risk"], categories=tuple(row["categories"] or ()),
                reason=row["reason"], user_role=row["user_role"], lang=row["lang"],
                counselor_id=row["counselor_id"], outcome=row["outcome"],
                details=dict(row["details"] or {}), opened_at=_aware(row["opened_at"]),
                updated_at=_aware(row["updated_at"]))


def counselor_from_row(row: Any) -> Counselor:
    return Counselor(id=row["id"], key=row["conversation_key"], role=row["role"],
                     alias=row["alias"], on_duty=row["on_duty"], active=row["active"])


class DeskStore:
    """Desk reads and writes inside the event's transaction."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._lock = connection.dialect.name == "postgresql"
        self._next_case: int | None = None
        # On SQLite the transaction holds the whole database, so who has a counselor account or
        # an open case can be read once per batch: most events then need no desk query at all.
        # On PostgreSQL other processes write meanwhile: there every event asks.
        self._counselor_keys: set[str] | None = None
        self._case_keys: set[str] | None = None
        if not self._lock:
            self._counselor_keys = {row[0] for row in connection.execute(
                select(counselors.c.conversation_key))}
            self._case_keys = {row[0] for row in connection.execute(
                select(cases.c.conversation_key).where(cases.c.state.in_(OPEN_STATES)))}

    # -- reading -------------------------------------------------------------------------------

    def _rows(self, query: Any) -> list[Any]:
        return list(self.connection.execute(query).mappings())

    def counselor_by_key(self, key: str) -> Counselor | None:
        rows = self._rows(select(counselors).where(counselors.c.conversation_key == key))
        return counselor_from_row(rows[0]) if rows else None

    def own_case(self, key: str) -> Case | None:
        query = (select(cases).where(cases.c.conversation_key == key,
                                     cases.c.state.in_(OPEN_STATES))
                 .order_by(cases.c.id.desc()).limit(1))
        if self._lock:
            query = query.with_for_update()
        rows = self._rows(query)
        return case_from_row(rows[0]) if rows else None

    def case(self, case_id: int) -> Case | None:
        query = select(cases).where(cases.c.id == case_id)
        if self._lock:
            query = query.with_for_update()
        rows = self._rows(query)
        return case_from_row(rows[0]) if rows else None

    def queue(self) -> tuple[Case, ...]:
        """The first waiting cases: highest risk first, then longest waiting."""
        rows = self._rows(select(cases).where(cases.c.state.in_(WAITING_STATES))
                          .order_by(cases.c.priority.desc(), cases.c.opened_at, cases.c.id)
                          .limit(QUEUE_LIMIT))
        return tuple(case_from_row(r) for r in rows)

    def waiting_at_least(self) -> dict[int, int]:
        """For each risk level, how many cases wait at that level or higher."""
        rows = self.connection.execute(
            select(cases.c.priority, func.count()).where(cases.c.state.in_(WAITING_STATES))
            .group_by(cases.c.priority)).all()
        counts = {int(priority): int(n) for priority, n in rows}
        return {level: sum(n for p, n in counts.items() if p >= level) for level in range(5)}

    def position(self, case: Case) -> int | None:
        if case.state not in WAITING_STATES:
            return None
        ahead = self.connection.execute(select(func.count()).where(
            cases.c.state.in_(WAITING_STATES),
            (cases.c.priority > int(case.level)) | ((cases.c.priority == int(case.level))
                                                    & (cases.c.opened_at < case.opened_at)))
        ).scalar_one()
        return int(ahead) + 1

    def all_counselors(self) -> list[Counselor]:
        return [counselor_from_row(r) for r in self._rows(select(counselors))]

    def recent(self, key: str) -> tuple[str, ...]:
        rows = self._rows(select(messages.c.body).where(
            messages.c.conversation_key == key, messages.c.direction == "in",
            messages.c.kind == "text").order_by(messages.c.id.desc()).limit(RECENT_MESSAGES))
        return tuple(reversed([r["body"] for r in rows]))

    def light_view(self, inbound: Inbound) -> DeskView:
        key = inbound.key
        counselors_known, cases_known = self._counselor_keys, self._case_keys
        return DeskView(
            counselor=self.counselor_by_key(key) if counselors_known is None
            or key in counselors_known else None,
            own_case=self.own_case(key) if cases_known is None or key in cases_known else None)

    def full_view(self, inbound: Inbound, counselor: Counselor | None) -> DeskView:
        everyone = self.all_counselors()
        by_id = {c.id: c for c in everyone}
        own = self.own_case(inbound.key) if counselor is None else None
        referenced: dict[int, Case] = {}
        held: tuple[Case, ...] = ()
        recent: tuple[str, ...] = ()
        invite = None
        command = parse_command(inbound.text or "") if inbound.button is None else None
        if command is not None and command.name == "counselor" and command.args:
            invite = self._invite(command.args.split()[0])
        if counselor is not None:
            held = tuple(case_from_row(r) for r in self._rows(
                select(cases).where(cases.c.counselor_id == counselor.id,
                                    cases.c.state.in_(OPEN_STATES))))
            for number in self._named_cases(inbound, command):
                found = self.case(number)
                if found is not None:
                    referenced[number] = found
            claimed = [c for c in referenced.values() if c.state in WAITING_STATES]
            if claimed:
                recent = self.recent(claimed[0].key)
        else:
            recent = self.recent(inbound.key)
        return DeskView(counselor=counselor, own_case=own, held=held,
                        queue=self.queue() if counselor is not None else (),
                        waiting_at_least=self.waiting_at_least(),
                        own_position=self.position(own) if own is not None else None,
                        on_duty=tuple(c for c in everyone if c.on_duty and c.active),
                        referenced=referenced, counselors=by_id, invite=invite, recent=recent,
                        new_case_id=self._allocate_case_id, complete=True)

    def timer_view(self, case: Case) -> DeskView:
        everyone = self.all_counselors()
        return DeskView(own_case=case, on_duty=tuple(c for c in everyone if c.on_duty and c.active),
                        counselors={c.id: c for c in everyone}, recent=self.recent(case.key),
                        new_case_id=self._allocate_case_id, complete=True)

    def _named_cases(self, inbound: Inbound, command: Any) -> Iterable[int]:
        if inbound.button and inbound.button.startswith("case:"):
            parts = inbound.button.split(":")
            if len(parts) >= 3 and parts[2].isdigit():
                yield int(parts[2])
        elif command is not None and command.args:
            word = command.args.split()[0].lstrip("#")
            if word.isdigit():
                yield int(word)

    def _invite(self, code: str) -> Invite | None:
        rows = self._rows(select(invites).where(invites.c.code_hash == hash_code(code)))
        if not rows:
            return None
        row = rows[0]
        return Invite(id=row["id"], role=row["role"], alias=row["alias"],
                      expires_at=_aware(row["expires_at"]), used_at=_aware(row["used_at"]))

    def _allocate_case_id(self) -> int:
        if self.connection.dialect.name == "postgresql":
            return int(self.connection.execute(text("SELECT nextval('cases_id_seq')")).scalar())
        if self._next_case is None:
            top = self.connection.execute(text("SELECT coalesce(max(id), 0) FROM cases")).scalar()
            self._next_case = int(top or 0)
        self._next_case += 1
        return self._next_case

    # -- writing -------------------------------------------------------------------------------

    def apply(self, record: object) -> bool:
        """Write one desk record; False when the record is not a desk record."""
        handler = getattr(self, f"_write_{type(record).__name__}", None)
        if handler is None:
            return False
        handler(record)
        return True

    def _write_SaveCase(self, record: SaveCase) -> None:  # noqa: N802
        case = record.case
        values = {"conversation_key": case.key, "state": case.state, "skill": case.skill,
                  "risk": case.risk, "priority": int(case.level),
                  "categories": list(case.categories), "reason": case.reason,
                  "user_role": case.user_role, "lang": case.lang,
                  "counselor_id": case.counselor_id, "outcome": case.outcome,
                  "details": dict(case.details), "opened_at": case.opened_at,
                  "updated_at": case.updated_at}
        if record.new:
            self.connection.execute(insert(cases).values(id=case.id, **values))
            if self._case_keys is not None:
                self._case_keys.add(case.key)
            return
        query = update(cases).where(cases.c.id == case.id)
        if record.expected_state is not None:
            query = query.where(cases.c.state == record.expected_state)
        if self.connection.execute(query.values(values)).rowcount != 1:
            raise StaleCase(f"case {case.id} changed")

    def _write_CaseTransition(self, record: CaseTransition) -> None:  # noqa: N802
        self.connection.execute(insert(case_events).values(
            case_id=record.case_id, trigger=record.trigger, source=record.source,
            dest=record.dest, actor=record.actor, reason=record.reason[:200], at=record.at))

    def _write_SaveCounselor(self, record: SaveCounselor) -> None:  # noqa: N802
        c = record.counselor
        if record.new:
            if self._counselor_keys is not None:
                self._counselor_keys.add(c.key)
            self.connection.execute(insert(counselors).values(
                conversation_key=c.key, role=c.role, alias=c.alias, on_duty=c.on_duty,
                active=c.active, created_at=datetime.now(UTC)))
        else:
            self.connection.execute(update(counselors).where(counselors.c.id == c.id).values(
                on_duty=c.on_duty, active=c.active, role=c.role, alias=c.alias))

    def _write_UseInvite(self, record: UseInvite) -> None:  # noqa: N802
        done = self.connection.execute(update(invites).where(
            invites.c.id == record.invite_id, invites.c.used_at.is_(None)).values(
            used_at=record.at))
        if done.rowcount != 1:
            raise StaleCase("invite already used")

    def _write_Audit(self, record: Audit) -> None:  # noqa: N802
        self.connection.execute(insert(audit_log).values(
            counselor_id=record.counselor_id, action=record.action, case_id=record.case_id,
            detail=record.detail, at=record.at))

    def _write_Note(self, record: Note) -> None:  # noqa: N802
        self.connection.execute(insert(case_notes).values(
            case_id=record.case_id, counselor_id=record.counselor_id, body=record.body,
            at=record.at))

    def _write_Deliver(self, record: Deliver) -> None:  # noqa: N802
        message = record.message
        self.connection.execute(insert(outbox).values(
            conversation_key=message.key, created_at=record.at, sent=False,
            message={"text": message.text, "state": message.state,
                     "buttons": [{"label": b.label, "payload": b.payload}
                                 for b in message.buttons]}))

    def _write_Schedule(self, record: Schedule) -> None:  # noqa: N802
        self.connection.execute(insert(timers).values(kind=record.kind, case_id=record.case_id,
                                                      due_at=record.due, done=False))
