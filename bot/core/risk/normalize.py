"""Normalising a message before risk matching, keeping a map back to the original text.

Rules of this module:
- Every character of the normalised text remembers the index of the original character it
  came from, so evidence can quote exactly what the user wrote.
- Steps, in order: NFKC per character (full-width to half-width); drop zero-width, format and
  control characters; Traditional to Simplified (OpenCC ``t2s``); case folding; English digit and
  symbol substitutions inside words (``k!ll``, ``mys3lf``); separators between Chinese characters
  and between single letters dropped (``自 杀``, ``自.杀``, ``k.i.l.l``); runs of one letter
  longer than two shortened (``killll``); runs of spaces become one space.
- Never raises, whatever the input (surrogates, combining marks, right-to-left marks).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import opencc

_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a",
                       "!": "i", "$": "s", "|": "l", "+": "t"})
_LEET_CHARS = frozenset("0134579@!$|+")
_SEPARATORS = frozenset(" \t\r\n.,;:!?*~_-+=/\\|·•、。，；：！？…—～'\"`^#&%()[]{}<>"
                        "《》「」『』【】〔〕（）")


@dataclass(frozen=True, slots=True)
class Normalized:
    text: str
    origin: tuple[int, ...]  # origin[i] = index in the original text of text[i]

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original span of normalised ``text[start:end]``."""
        return self.origin[start], self.origin[end - 1] + 1


@lru_cache(maxsize=1)
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def _is_han(char: str) -> bool:
    return "\u3400" <= char <= "\u9fff" or "\uf900" <= char <= "\ufaff" or char >= "\U00020000"


def _dropped(char: str) -> bool:
    category = unicodedata.category(char)
    return category in ("Cc", "Cf", "Cs", "Co", "Cn", "Mn", "Me") and char not in "\n\t"


def normalize(text: str) -> Normalized:
    chars: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        for piece in unicodedata.normalize("NFKC", char) if ord(char) > 127 else char:
            if not _dropped(piece):
                chars.append(piece)
                origin.append(index)
    simplified = _t2s().convert("".join(chars))
    if len(simplified) == len(chars):
        chars = list(simplified)
    else:  # a phrase conversion changed the length: convert one character at a time
        chars = [_t2s().convert(c) or c for c in chars]
        chars = [c[0] for c in chars]
    chars = [c.casefold()[:1] or c for c in chars]
    chars = _undo_leet(chars)
    return _squeeze(chars, origin)


def _undo_leet(chars: list[str]) -> list[str]:
    """Digits and symbols between letters are letters in disguise: ``k!ll``, ``mys3lf``."""
    out = list(chars)
    for i, char in enumerate(chars):
        if char in _LEET_CHARS:
            before = chars[i - 1] if i > 0 else ""
            after = chars[i + 1] if i + 1 < len(chars) else ""
            if (before.isascii() and before.isalpha()) or (after.isascii() and after.isalpha()):
                out[i] = char.translate(_LEET)
    return out


def _squeeze(chars: list[str], origin: list[int]) -> Normalized:
    text: list[str] = []
    where: list[int] = []
    count = len(chars)
    spelled = False  # inside a word spelled out letter by letter (k.i.l.l)
    i = 0
    while i < count:
        char = chars[i]
        if char in _SEPARATORS or char.isspace():
            j = i
            while j < count and (chars[j] in _SEPARATORS or chars[j].isspace()):
                j += 1
            before = text[-1] if text else ""
            after = chars[j] if j < count else ""
            if _joins(before, after, text, chars, j, spelled):
                spelled = before.isascii() and before.isalpha()
                i = j
                continue
            spelled = False
            if any(c.isspace() for c in chars[i:j]) or not (before and after):
                if text and text[-1] != " ":
                    text.append(" ")
                    where.append(origin[i])
            else:
                text.append(char)
                where.append(origin[i])
            i = j
            continue
        if len(text) >= 2 and char.isascii() and char.isalpha() and text[-1] == text[-2] == char:
            i += 1  # killll -> kill
            continue
        text.append(char)
        where.append(origin[i])
        i += 1
    start, end = 0, len(text)
    while start < end and text[start] == " ":
        start += 1
    while end > start and text[end - 1] == " ":
        end -= 1
    return Normalized("".join(text[start:end]), tuple(where[start:end]))


def _joins(before: str, after: str, text: list[str], chars: list[str], j: int,
           spelled: bool) -> bool:
    """Separators inside a word in disguise are dropped: between two Chinese characters, or
    between single letters (``k.i.l.l``)."""
    if before and after and _is_han(before) and _is_han(after):
        return True
    single_before = before.isalpha() and before.isascii() and (spelled or len(text) < 2 or not (
        text[-2].isascii() and text[-2].isalpha()))
    single_after = after.isalpha() and after.isascii() and (j + 1 >= len(chars) or not (
        chars[j + 1].isascii() and chars[j + 1].isalpha()))
    return single_before and single_after
