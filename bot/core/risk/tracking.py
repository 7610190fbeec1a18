"""A conversation's risk over time, kept in its slots.

Rules:
- The conversation keeps its highest level of the last ``WINDOW`` (``risk_level``,
  ``risk_level_at``); an older level has expired.
- Three ``medium`` messages within the window make the third one ``high``: distress that keeps
  coming back is a crisis even when no single message says so.
- A screening result (ASQ) sets the level directly (``record_level``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.core.risk.lexicon import Level

WINDOW = timedelta(hours=24)
REPEATED_MEDIUM = 3
LEVEL_SLOT, LEVEL_AT_SLOT = "risk_level", "risk_level_at"
MEDIUM_SLOT, MEDIUM_AT_SLOT = "risk_medium_count", "risk_medium_at"


def _recent(slots: dict[str, str], at_slot: str, now: datetime) -> bool:
    try:
        return now - datetime.fromisoformat(slots[at_slot]) <= WINDOW
    except (KeyError, ValueError):
        return False


def stored_level(slots: dict[str, str], now: datetime) -> Level:
    if not _recent(slots, LEVEL_AT_SLOT, now):
        return Level.NONE
    try:
        return Level.parse(slots.get(LEVEL_SLOT, "none"))
    except KeyError:
        return Level.NONE


def record_level(slots: dict[str, str], level: Level, now: datetime) -> None:
    """Remember ``level`` when it is at least the conversation's recent highest."""
    if level >= stored_level(slots, now) and level > Level.NONE:
        slots[LEVEL_SLOT] = level.label
        slots[LEVEL_AT_SLOT] = now.isoformat()


def track(slots: dict[str, str], level: Level, now: datetime) -> Level:
    """The message's effective level after counting repeated medium signals; updates slots."""
    if level == Level.MEDIUM:
        count = int(slots.get(MEDIUM_SLOT, "0")) if _recent(slots, MEDIUM_AT_SLOT, now) else 0
        count += 1
        slots[MEDIUM_SLOT], slots[MEDIUM_AT_SLOT] = str(count), now.isoformat()
        if count >= REPEATED_MEDIUM:
            level = Level.HIGH
    record_level(slots, level, now)
    return level
