"""Cleaning what users type, telling Chinese from English, and reading commands.

Rules of this module:
- Cleaning keeps what the user meant and drops what no one means: control characters (but not
  line breaks and tabs), NUL (PostgreSQL refuses it), lone surrogates (they cannot be stored as
  UTF-8) and invisible format characters at the ends.
- Simplified and Traditional Chinese are both Chinese; the bot answers them in ``zh``.
- A command is ``/word`` at the very start (full-width ``／`` too), with an optional ``@botname``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from bot.core.events import Lang

MAX_STORED_CHARS = 16_000

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef]")
_LATIN = re.compile(r"[A-Za-z]")
_COMMAND = re.compile(r"^[/／]([A-Za-z_]{1,32})(?:@\w+)?(?:\s+(.*))?$", re.DOTALL)


def clean(text: str) -> str:
    """The text with control characters and lone surrogates removed, trimmed, bounded."""
    text = _SURROGATE.sub("\ufffd", text)
    text = _CONTROL.sub("", text)
    return text.strip(" \t\r\n\u200b\u200c\u200d\u2060\ufeff\u3000")[:MAX_STORED_CHARS]


def detect_lang(text: str) -> Lang | None:
    """``zh`` when the text is mostly Chinese, ``en`` when it is mostly Latin letters, else None."""
    han = len(_HAN.findall(text))
    latin = len(_LATIN.findall(text))
    if han and han * 3 >= latin:  # one Chinese character carries about a word
        return "zh"
    if latin >= 2:
        return "en"
    return "zh" if han else None


def lang_from_hint(hint: str | None) -> Lang | None:
    """A channel's language code (``zh-hans``, ``zh_TW``, ``en-GB``) as a bot language."""
    if not hint:
        return None
    head = hint.lower().replace("_", "-").split("-", 1)[0]
    if head == "zh":
        return "zh"
    if head == "en":
        return "en"
    return None


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    args: str


def parse_command(text: str) -> Command | None:
    match = _COMMAND.match(unicodedata.normalize("NFKC", text[:200]) if text else "")
    if match is None:
        return None
    return Command(name=match.group(1).lower(), args=(match.group(2) or "").strip())


def fold(text: str) -> str:
    """A form for comparing typed text with button labels."""
    return unicodedata.normalize("NFKC", text).casefold().strip(" 。.!！?？")
