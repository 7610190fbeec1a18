"""What operators do from the command line: invite and revoke counselors, look at cases.

Synchronous and short: each function is one transaction on the engine it is given.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, insert, select, update

from bot.core.cases.lifecycle import OPEN_STATES, fire
from bot.core.cases.model import ROLES, Case
from storage.desk_store import DeskStore, case_from_row, counselor_from_row, hash_code
from storage.models import audit_log, case_events, case_notes, cases, counselors, invites

INVITE_LIFETIME = timedelta(hours=72)


def invite(engine: Engine, role: str, alias: str, now: datetime,
           lifetime: timedelta = INVITE_LIFETIME) -> tuple[str, datetime]:
    """A one-time sign-in code (only its hash is stored) and when it expires."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    code = secrets.token_urlsafe(12)
    expires = now + lifetime
    with engine.begin() as connection:
        connection.execute(insert(invites).values(code_hash=hash_code(code), role=role,
                                                  alias=alias[:40], expires_at=expires))
        connection.execute(insert(audit_log).values(counselor_id=None, action="invite",
                                                    case_id=None, detail=f"{role} {alias}"[:200],
                                                    at=now))
    return code, expires


def list_counselors(engine: Engine) -> list[dict[str, Any]]:
    with engine.begin() as connection:
        rows = connection.execute(select(counselors).order_by(counselors.c.id)).mappings()
        return [{"id": r["id"], "role": r["role"], "alias": r["alias"], "on_duty": r["on_duty"],
                 "active": r["active"]} for r in rows]


def revoke(engine: Engine, counselor_id: int, now: datetime) -> int:
    """Sign a counselor out for good; their active cases go back to the queue. Returns how many
    cases were released; raises ``LookupError`` for an unknown id."""
    with engine.begin() as connection:
        row = connection.execute(select(counselors).where(counselors.c.id == counselor_id)
                                 ).mappings().first()
        if row is None:
            raise LookupError(f"no counselor {counselor_id}")
        connection.execute(update(counselors).where(counselors.c.id == counselor_id)
                           .values(active=False, on_duty=False))
        store = DeskStore(connection)
        held = [case_from_row(r) for r in connection.execute(select(cases).where(
            cases.c.counselor_id == counselor_id, cases.c.state == "active")).mappings()]
        for case in held:
            transition = fire(case.id, case.state, "release", actor="operator",
                              reason="counselor revoked", at=now)
            store.apply(transition)
            connection.execute(update(cases).where(cases.c.id == case.id).values(
                state=transition.dest, counselor_id=None, updated_at=now))
        connection.execute(insert(audit_log).values(counselor_id=counselor_id, action="revoke",
                                                    case_id=None, detail="", at=now))
        return len(held)


def _alias_map(connection: Any) -> dict[int, str]:
    return {c.id: c.alias for c in (counselor_from_row(r) for r in
                                    connection.execute(select(counselors)).mappings())}


def list_cases(engine: Engine, now: datetime, everything: bool = False) -> list[dict[str, Any]]:
    with engine.begin() as connection:
        query = select(cases)
        if not everything:
            query = query.where(cases.c.state.in_(OPEN_STATES))
        found = [case_from_row(r) for r in connection.execute(query).mappings()]
        aliases = _alias_map(connection)
    found.sort(key=Case.queue_order)
    return [_summary(case, aliases, now) for case in found]


def _summary(case: Case, aliases: dict[int, str], now: datetime) -> dict[str, Any]:
    return {"id": case.id, "state": case.state, "risk": case.risk,
            "categories": list(case.categories), "skill": case.skill, "reason": case.reason,
            "role": case.user_role, "lang": case.lang,
            "waiting_min": int((now - case.opened_at).total_seconds() // 60),
            "counselor": aliases.get(case.counselor_id or -1), "outcome": case.outcome,
            "opened_at": case.opened_at.isoformat()}


def show_case(engine: Engine, case_id: int, now: datetime) -> dict[str, Any]:
    """One case with its history; raises ``LookupError``."""
    with engine.begin() as connection:
        row = connection.execute(select(cases).where(cases.c.id == case_id)).mappings().first()
        if row is None:
            raise LookupError(f"no case {case_id}")
        case = case_from_row(row)
        aliases = _alias_map(connection)
        events = [dict(r) for r in connection.execute(
            select(case_events.c.trigger, case_events.c.source, case_events.c.dest,
                   case_events.c.actor, case_events.c.reason, case_events.c.at)
            .where(case_events.c.case_id == case_id).order_by(case_events.c.id)).mappings()]
        notes = connection.execute(select(func.count()).select_from(case_notes)
                                   .where(case_notes.c.case_id == case_id)).scalar_one()
    summary = _summary(case, aliases, now)
    summary["details"] = dict(case.details)
    summary["events"] = [{**e, "at": e["at"].isoformat()} for e in events]
    summary["notes"] = notes
    return summary
