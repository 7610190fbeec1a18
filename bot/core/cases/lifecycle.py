"""The case lifecycle: one ``transitions`` machine shared by every case.

    queued --offer--> offered --claim--> active --resolve--> resolved --close--> closed
       ^  \\________________claim______/    |                  |
       |                                   +--release (off duty, transfer) --> queued
       |                       resolved --follow_up--> follow_up --close--> closed
       +------------------------------------------------------ reopen (check-in answer)
    queued / offered / active --abandon--> abandoned     queued / offered --expire--> expired

Every fired trigger yields a ``CaseTransition`` (from, to, actor, reason, time) to store; a
trigger that is not allowed from the case's state raises ``CaseStateError``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from transitions import Machine, MachineError

STATES = ("queued", "offered", "active", "resolved", "follow_up", "closed", "abandoned",
          "expired")
OPEN_STATES = frozenset({"queued", "offered", "active", "resolved", "follow_up"})
WAITING_STATES = frozenset({"queued", "offered"})
TRANSITIONS = (
    ("offer", "queued", "offered"),
    ("claim", ["queued", "offered"], "active"),
    ("release", ["active", "offered"], "queued"),
    ("resolve", "active", "resolved"),
    ("follow_up", "resolved", "follow_up"),
    ("close", ["resolved", "follow_up", "active"], "closed"),
    ("reopen", ["follow_up", "resolved"], "queued"),
    ("abandon", ["queued", "offered", "active"], "abandoned"),
    ("expire", ["queued", "offered"], "expired"),
)


class CaseStateError(Exception):
    """The trigger is not allowed from the case's current state."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CaseTransition:
    case_id: int
    trigger: str
    source: str
    dest: str
    actor: str
    reason: str
    at: datetime


@dataclass(slots=True)
class _Position:
    state: str


_MACHINE = Machine(model=None, states=list(STATES), transitions=[list(t) for t in TRANSITIONS],
                   initial=None, auto_transitions=False, ignore_invalid_triggers=False)


def allowed(state: str, trigger: str) -> bool:
    event = _MACHINE.events.get(trigger)
    return bool(event and event.transitions.get(state))


def fire(case_id: int, state: str, trigger: str, *, actor: str, reason: str,
         at: datetime) -> CaseTransition:
    """The transition ``trigger`` makes from ``state``; raises ``CaseStateError``."""
    position = _Position(state)
    event = _MACHINE.events.get(trigger)
    if event is None:
        raise CaseStateError(f"unknown case trigger {trigger!r}")
    try:
        event.trigger(position)
    except MachineError as exc:
        raise CaseStateError(f"case {case_id}: cannot {trigger} from {state}") from exc
    return CaseTransition(case_id=case_id, trigger=trigger, source=state, dest=position.state,
                          actor=actor, reason=reason, at=at)
