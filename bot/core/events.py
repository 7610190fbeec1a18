"""Values that cross the core's boundary: what comes in, what goes out, what to store.

Rules of this module:
- Every value is frozen, slotted and keyword-only, so a step cannot change its input behind
  the caller's back and tests can compare results with ``==``.
- Nothing here knows a channel's user id or name: a conversation is known by its ``key``, the
  keyed pseudonym the channel adapter made.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Literal

Lang = Literal["zh", "en"]
LANGS: tuple[Lang, ...] = ("zh", "en")


@dataclass(frozen=True, slots=True, kw_only=True)
class Inbound:
    """One event from a user: a typed message, a pressed button, something that is not text
    (``media``: photo, sticker, voice, location ...; its caption, if any, is ``text``), an edited
    message (``edited``: only screened again), or a ``signal`` from the channel (``blocked``:
    the user blocked the bot)."""

    channel: str
    key: str
    at: datetime
    text: str | None = None
    button: str | None = None
    language_hint: str | None = None
    media: str | None = None
    edited: bool = False
    signal: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Button:
    label: str
    payload: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Outbound:
    """One message for the user of conversation ``key``."""

    key: str
    text: str
    buttons: tuple[Button, ...] = ()
    state: str = ""


def _frozen(slots: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(slots))


@dataclass(frozen=True, slots=True, kw_only=True)
class Conversation:
    """A conversation as stored: where it is in which flow, and what it has learned."""

    key: str
    channel: str
    flow: str
    state: str
    lang: Lang
    lang_locked: bool = False
    slots: Mapping[str, str] = field(default_factory=lambda: _frozen({}))
    created_at: datetime
    updated_at: datetime

    def __post_init__(self) -> None:
        if not isinstance(self.slots, MappingProxyType):
            object.__setattr__(self, "slots", _frozen(self.slots))

    @property
    def where(self) -> str:
        return f"{self.flow}.{self.state}"


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


@dataclass(frozen=True, slots=True, kw_only=True)
class SaveConversation:
    conversation: Conversation


@dataclass(frozen=True, slots=True, kw_only=True)
class LogMessage:
    key: str
    direction: Direction
    kind: Literal["text", "button", "command", "media", "edited", "signal"]
    body: str
    state: str
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class EraseConversation:
    """Delete the conversation and everything logged for it (``/forget``)."""

    key: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SetActive:
    """Whether the user can still be reached (False once they blocked the bot)."""

    key: str
    active: bool


Record = SaveConversation | LogMessage | EraseConversation | SetActive


@dataclass(frozen=True, slots=True, kw_only=True)
class StepResult:
    """What one inbound event produced: replies in order, and records to store in order."""

    outbound: tuple[Outbound, ...]
    records: tuple[Record, ...]
    conversation: Conversation | None
    assessment: object = None  # the message's risk assessment (bot.core.risk.screener)
    risk: str = "none"  # the message's effective risk level, after the conversation's history
