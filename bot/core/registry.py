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
from bot.core.risk.lexicon import Level
from bot.core.risk.tracking import record_level

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
    wants_human: bool = False  # set each time a state asks for a person in this step


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
    scratch.wants_human = True


def _forget(scratch: Scratch) -> None:
    scratch.erase = True


ASQ_QUESTIONS = ("asq_q1", "asq_q2", "asq_q3", "asq_q4")
ASQ_ACUITY = "asq_q5"
ASQ_RESULT = "asq_result"


def _asq_positive(scratch: Scratch) -> bool:
    """NIMH ASQ: a yes to any of questions 1-4; for youth, declining to answer counts too."""
    return any(scratch.slots.get(q) in ("yes", "declined") for q in ASQ_QUESTIONS)


def _asq_start(scratch: Scratch) -> None:
    for name in (*ASQ_QUESTIONS, ASQ_ACUITY):
        scratch.slots.pop(name, None)


def _asq_score(scratch: Scratch) -> None:
    """Acute positive (yes to 5) -> imminent; non-acute positive -> high; else negative."""
    if not _asq_positive(scratch):
        result, level = "negative", Level.NONE
    elif scratch.slots.get(ASQ_ACUITY) == "yes":
        result, level = "acute_positive", Level.IMMINENT
    else:
        result, level = "non_acute_positive", Level.HIGH
    scratch.slots[ASQ_RESULT] = result
    scratch.slots["asq_at"] = scratch.now.isoformat()
    record_level(scratch.slots, level, scratch.now)


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
        "asq_positive": _asq_positive,
        "asq_negative": lambda s: not _asq_positive(s),
    }
    actions: dict[str, Action] = {
        "clear_slots": _clear_slots,
        "request_human": _request_human,
        "forget_conversation": _forget,
        "lock_lang_zh": _lock_lang("zh"),
        "lock_lang_en": _lock_lang("en"),
        "asq_start": _asq_start,
        "asq_score": _asq_score,
    }
    return Registry(conditions=MappingProxyType(conditions), actions=MappingProxyType(actions))
