"""Counselors, cases and what the storage hands the engine about them for one event.

A ``DeskView`` is loaded by the storage adapter, inside the event's transaction and with the
rows it may change locked, so a decision made on it (one claim wins) stays true until commit.
Identity never enters: a case names the teen's conversation by its pseudonym only, and a
counselor is known to teens by alias only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Literal

from bot.core.events import Outbound
from bot.core.risk.lexicon import Level

Role = Literal["psych", "legal", "supervisor"]
ROLES: tuple[Role, ...] = ("psych", "legal", "supervisor")
OUTCOMES = ("supported", "referred_psych", "referred_legal", "emergency_services",
            "safeguarding_report", "no_response", "other")
# Unclaimed cases are re-announced and raised to supervisors after these waits.
DEFAULT_SLA: Mapping[str, timedelta] = MappingProxyType({
    "imminent": timedelta(minutes=2), "high": timedelta(minutes=5),
    "medium": timedelta(minutes=30), "low": timedelta(minutes=30), "none": timedelta(minutes=30),
})


@dataclass(frozen=True, slots=True, kw_only=True)
class Counselor:
    id: int
    key: str  # the counselor's own conversation key
    role: Role
    alias: str
    on_duty: bool = False
    active: bool = True

    def can_take(self, case: Case) -> bool:
        return self.active and (self.role == "supervisor" or self.role == case.skill)


@dataclass(frozen=True, slots=True, kw_only=True)
class Case:
    id: int
    key: str  # the teen's (or parent's) conversation key
    state: str
    skill: Role
    risk: str
    categories: tuple[str, ...] = ()
    reason: str  # risk, request, legal
    user_role: str  # teen, parent, unknown
    lang: str
    counselor_id: int | None = None
    outcome: str | None = None
    details: Mapping[str, str] = field(default_factory=dict)
    opened_at: datetime
    updated_at: datetime

    @property
    def level(self) -> Level:
        return Level.parse(self.risk)

    def queue_order(self) -> tuple[int, datetime, int]:
        """Highest risk first, then longest waiting."""
        return (-self.level, self.opened_at, self.id)


@dataclass(frozen=True, slots=True, kw_only=True)
class Invite:
    id: int
    role: Role
    alias: str
    expires_at: datetime
    used_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeskView:
    """What the desk knows for one event; empty for a plain conversation with no case."""

    counselor: Counselor | None = None
    own_case: Case | None = None  # the open case of this (teen's) conversation
    held: tuple[Case, ...] = ()  # cases this counselor holds
    queue: tuple[Case, ...] = ()  # the first waiting cases in queue order (for counselors)
    waiting_at_least: Mapping[int, int] = field(default_factory=dict)  # level -> cases waiting
    own_position: int | None = None  # place of own_case in the queue, when it waits
    on_duty: tuple[Counselor, ...] = ()
    referenced: Mapping[int, Case] = field(default_factory=dict)  # cases this event names
    counselors: Mapping[int, Counselor] = field(default_factory=dict)  # by id, for aliases
    invite: Invite | None = None  # the invite matching a /counselor code, if any
    recent: tuple[str, ...] = ()  # the teen's last messages, for a notification
    new_case_id: Callable[[], int] | None = None
    complete: bool = False  # False: only counselor and own_case were loaded

    def require(self) -> None:
        """Ask the storage adapter for the complete view (it steps the event again)."""
        if not self.complete:
            raise NeedDeskData


class NeedDeskData(Exception):  # noqa: N818 - a request, not an error
    """The light view is not enough for this event: load the complete one and step again."""


EMPTY_DESK = DeskView(complete=True)


def position_of_new(view: DeskView, level: Level) -> int:
    """A new case goes behind every waiting case of its risk or higher."""
    return 1 + view.waiting_at_least.get(int(level), 0)


@dataclass(frozen=True, slots=True, kw_only=True)
class SaveCase:
    """Store ``case``; unless new, only if it is still in ``expected_state`` (else the event is
    stepped again on fresh data: that is how exactly one claim wins)."""

    case: Case
    new: bool = False
    expected_state: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SaveCounselor:
    counselor: Counselor
    new: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class UseInvite:
    invite_id: int
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Audit:
    counselor_id: int | None
    action: str
    case_id: int | None
    detail: str
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Note:
    case_id: int
    counselor_id: int
    body: str
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Deliver:
    """A message for another conversation, sent by the worker after commit (the outbox)."""

    message: Outbound
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Schedule:
    kind: Literal["sla", "follow_up"]
    case_id: int
    due: datetime
