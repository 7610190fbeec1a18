"""The Python functions that flows may name in ``if`` (conditions) and ``enter`` (actions).

Rules of this module:
- YAML names things, it never imports them: only the names in a ``Registry`` exist for flows.
- Conditions only read a ``Scratch``; actions change it. Neither does I/O: an action that needs
  the outside world (erasing stored data) sets a flag the engine turns into a record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from bot.core.events import Lang

HUMAN_REQUESTED = "human_requested_at"
RETURN_TO = "_return"


@dataclass(slots=True, kw_only=True)
class Scratch:
    """The working copy of one conversation during one step."""

    slots: dict[str, str]
    lang: Lang
    lang_locked: bool
    now: datetime
    erase: bool = False


Condition = Callable[[Scratch], bool]
Action = Callable[[Scratch], None]


@dataclass(frozen=True, slots=True)
class Registry:
    conditions: Mapping[str, Condition] = field(default_factory=dict)
    actions: Mapping[str, Action] = field(default_factory=dict)


def _clear_slots(scratch: Scratch) -> None:
    """Start over without forgetting that a person was asked for."""
    keep = {name: scratch.slots[name] for name in (HUMAN_REQUESTED,) if name in scratch.slots}
    scratch.slots.clear()
    scratch.slots.update(keep)


def _request_human(scratch: Scratch) -> None:
    # Recorded with the conversation; counselor cases are opened from it by the escalation layer.
    scratch.slots.setdefault(HUMAN_REQUESTED, scratch.now.isoformat())


def _forget(scratch: Scratch) -> None:
    scratch.erase = True


def _lock_lang(lang: Lang) -> Action:
    def action(scratch: Scratch) -> None:
        scratch.lang = lang
        scratch.lang_locked = True

    return action


def default_registry() -> Registry:
    conditions: dict[str, Condition] = {
        "has_role": lambda s: "role" in s.slots,
        "role_is_teen": lambda s: s.slots.get("role") == "teen",
        "role_is_parent": lambda s: s.slots.get("role") == "parent",
        "lang_is_zh": lambda s: s.lang == "zh",
        "lang_is_en": lambda s: s.lang == "en",
        "human_requested": lambda s: HUMAN_REQUESTED in s.slots,
    }
    actions: dict[str, Action] = {
        "clear_slots": _clear_slots,
        "request_human": _request_human,
        "forget_conversation": _forget,
        "lock_lang_zh": _lock_lang("zh"),
        "lock_lang_en": _lock_lang("en"),
    }
    return Registry(conditions=MappingProxyType(conditions), actions=MappingProxyType(actions))
