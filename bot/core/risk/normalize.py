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

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import opencc

_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a",
                       "!": "i", "$": "s", "|": "l", "+": "t"})
# inside a word (mys3lf, k!ll) or digits opening one (4buse); not "die!" or "15 years"
_LEET_RUN = re.compile(r"(?<=[a-z])[0134579@!$|+]+(?=[a-z])|(?<![a-z0-9])[0134579]+(?=[a-z]{2})"
                       r"|(?<=[a-z])[01345]{1,2}(?![a-z0-9])")  # ...or ending one: d13, t0
# where _LEET_RUN could match at all: a digit or symbol next to a letter (checked first, as the
# lookbehinds of _LEET_RUN make it slow to search)
_LEET_NEAR = re.compile(r"[a-z][0134579@!$|+]|[0134579][a-z]")
_REPEATS = re.compile(r"([a-z])\1\1+")
_ASCII_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_DROPPED = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Mn", "Me"})
_FULL_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {
    0x3000: 0x20, 0x2018: 0x27, 0x2019: 0x27, 0x201B: 0x27, 0x2032: 0x27,  # ‘ ’ ‛ ′ -> '
    0x201C: 0x22, 0x201D: 0x22,  # phones type “he’ll” where the lexicon has "he'll"
    0x8457: 0x7740,  # 著 -> 着: OpenCC keeps 著 (著名), so Traditional 睡不著 would miss 睡不着
    0x5451: 0x541E}  # 呑 -> 吞: the variant Hong Kong keyboards give (呑咗十幾粒)
# the same as a list over the Basic Multilingual Plane: str.translate looks a list up without
# the KeyError a dict raises for every character it does not hold (twice as fast)
_FULL_WIDTH_TABLE = [_FULL_WIDTH.get(code, code) for code in range(0x10000)]
# what the slow path would drop, for the fast path to step aside: controls, format characters
# (zero-width, direction marks, soft hyphen, variation selectors), combining marks, surrogates
_INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u0300-\u036f\u0483-\u0489"
                        "\u0591-\u05bd\u061c\u064b-\u065f\u0e31-\u0e3a\u0e47-\u0e4e"
                        "\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\u20d0-\u20ff"
                        "\ud800-\udfff\ue000-\uf8ff\ufe00-\ufe0f\ufe20-\ufe2f\ufeff"
                        "\ufff0-\ufffb\U000e0000-\U000e0fff\U000f0000-\U0010ffff]")
_SEPARATOR_CHARS = (" \t\r\n.,;:!?*~_-+=/\\|·•、。，；：！？…—～'\"`^#&%()[]{}<>"
                    "《》「」『』【】〔〕（）")
_SEPARATOR = "[" + re.escape(_SEPARATOR_CHARS) + r"\s]"
_HAN = "[\u3400-\u9fff\uf900-\ufaff\U00020000-\U0010ffff]"
# Chinese punctuation as written, before NFKC folds it; 、 is left out (我、要、紫、砂 is evasion)
_CLAUSE_MARKS = frozenset("，。！？；：")
_PHRASE_GAP = re.compile(f"(?<={_HAN}{{3}})\\s+(?={_HAN}{{3}})")
# Only the separator runs that may change (the rest are left alone without a Python step):
# at an edge, two or more, between Chinese characters, between single letters, or a line break.
_SEPARATOR_RUN = re.compile(  # the lookahead turns every other character away at once
    f"(?={_SEPARATOR}|[^\\S ])"
    f"(?:(?P<edge>^{_SEPARATOR}+|{_SEPARATOR}+$)|(?P<long>{_SEPARATOR}{{2,}})"
    f"|(?P<han>(?<={_HAN}){_SEPARATOR}(?={_HAN}))"
    f"|(?P<letter>(?<=(?<![a-z])[a-z]){_SEPARATOR}(?=[a-z](?![a-z])))|(?P<space>[^\\S ]))")


@dataclass(frozen=True, slots=True)
class Normalized:
    text: str
    origin: list[int]  # origin[i] = index in the original text of text[i]; never changed

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original span of normalised ``text[start:end]``."""
        return self.origin[start], self.origin[end - 1] + 1


@lru_cache(maxsize=1)
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def _is_han(char: str) -> bool:
    return "\u3400" <= char <= "\u9fff" or "\uf900" <= char <= "\ufaff" or char >= "\U00020000"


def _dropped(char: str) -> bool:
    return unicodedata.category(char) in _DROPPED and char not in "\n\t"


def normalize(text: str) -> Normalized:
    chars, origin = _visible(text)
    if not chars.isascii():
        simplified = _t2s().convert(chars)
        if len(simplified) != len(chars):  # a phrase changed length: one character at a time
            simplified = "".join((_t2s().convert(c) or c)[0] for c in chars)
        chars = simplified
    lowered = chars.lower()
    # a character whose lower case is longer (İ) keeps one character, so the map stays 1:1
    chars = lowered if len(lowered) == len(chars) else "".join(c.lower()[:1] or c for c in chars)
    if _LEET_NEAR.search(chars):
        chars = _LEET_RUN.sub(_unleet, chars)
    chars, origin = _squeeze(chars, origin, text)
    if _REPEATS.search(chars):
        chars, origin = _cut(chars, origin, _REPEATS, lambda m: m.group(1) * 2)
    return Normalized(chars, origin)


def _unleet(match: re.Match[str]) -> str:
    return match.group(0).translate(_LEET)


def _visible(text: str) -> tuple[str, list[int]]:
    """NFKC and without invisible characters, with the original index of each character."""
    if text.isascii():
        if not _ASCII_CONTROL.search(text):
            return text, list(range(len(text)))
        kept = [(i, c) for i, c in enumerate(text) if not _ASCII_CONTROL.match(c)]
        return "".join(c for _, c in kept), [i for i, _ in kept]
    # Fast path, the common case: once full-width forms are half-width (one for one), the text
    # is already NFKC and holds nothing invisible, so every character maps to itself.
    quick = text.translate(_FULL_WIDTH_TABLE)
    if not _INVISIBLE.search(quick) and unicodedata.is_normalized("NFKC", quick):
        return quick, list(range(len(quick)))
    chars: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(quick):
        pieces = unicodedata.normalize("NFKC", char) if ord(char) > 127 else char
        for piece in pieces:
            if not _dropped(piece):
                chars.append(piece)
                origin.append(index)
    return "".join(chars), origin


def _squeeze(chars: str, origin: list[int], original: str) -> tuple[str, list[int]]:
    """Drop separators inside disguised words, make other separator runs one space or mark.
    Chinese punctuation as written (，。！？) ends a clause, so between Chinese characters it
    becomes a space: 怎么打，我已经死了 must not read 打我; evasion uses dots, stars and spaces.
    So does a space between two phrases of Chinese (see ``_between_phrases``)."""
    parts: list[str] = []
    where: list[int] = []
    position = 0
    for match in _SEPARATOR_RUN.finditer(chars):
        start, end = match.span()
        kind = match.lastgroup
        if kind == "letter" and chars[start] == " " and (
                _marked(chars, start - 2) or _marked(chars, end + 1)):
            continue  # a space between two dotted words (k.i.l.l m.y.s.e.l.f) parts them
        if kind == "long" and not _joins(chars, start, end):
            run = match.group(0)
            kept = " " if any(c.isspace() for c in run) else run[0]
        elif kind == "space" or (kind in ("han", "long") and (
                _clause_mark(original, origin, start, end) or _between_phrases(chars, start, end))):
            kept = " "
        else:
            kept = ""  # leading or trailing separators, or a word in disguise
        parts.append(chars[position:start])
        where.extend(origin[position:start])
        position = end
        if kept:
            parts.append(kept)
            where.append(origin[start])
    if not parts:
        return chars, origin
    parts.append(chars[position:])
    where.extend(origin[position:])
    return "".join(parts), where


def _clause_mark(original: str, origin: list[int], start: int, end: int) -> bool:
    """Whether the separators at ``start:end`` hold Chinese punctuation as written."""
    if end - start == 1:  # the common case: one mark between two characters
        return original[origin[start]] in _CLAUSE_MARKS
    for i in range(start, end):  # noqa: SIM110 - any() with a generator costs more
        if original[origin[i]] in _CLAUSE_MARKS:
            return True
    return False


def _between_phrases(chars: str, start: int, end: int) -> bool:
    """Spaces between two runs of three Chinese characters or more part them, as a comma
    would (这个boss好难打 我们团灭了 must not read 打我); evasion spaces a word's characters
    apart (自 杀, 我 想 死), which leaves runs of one or two."""
    gap = _PHRASE_GAP.match(chars, start)
    return gap is not None and gap.end() == end


def _joins(chars: str, start: int, end: int) -> bool:
    """A run of separators between two Chinese characters, or between single letters."""
    if _is_han(chars[start - 1]) and _is_han(chars[end]):
        return True
    if not (_single_letter(chars, start - 1) and _single_letter(chars, end)):
        return False
    if chars[start:end].isspace():  # between spelled-out words: "i   d o n t", "k.i.l.l m.e"
        return end - start == 1 and not (_marked(chars, start - 2) or _marked(chars, end + 1))
    return True


def _marked(chars: str, index: int) -> bool:
    """A separator other than a space at ``index``."""
    return 0 <= index < len(chars) and not chars[index].isspace() and (
        chars[index] in _SEPARATOR_CHARS)


def _single_letter(chars: str, index: int) -> bool:
    if not (chars[index].isascii() and chars[index].isalpha()):
        return False
    left = chars[index - 1] if index > 0 else " "
    right = chars[index + 1] if index + 1 < len(chars) else " "
    return not (left.isascii() and left.isalpha()) and not (right.isascii() and right.isalpha())


def _cut(chars: str, origin: list[int], pattern: re.Pattern[str],
         keep: Callable[[re.Match[str]], str]) -> tuple[str, list[int]]:
    """Replace each match with ``keep(match)``, a prefix of it, keeping the origin map."""
    parts: list[str] = []
    where: list[int] = []
    position = 0
    for match in pattern.finditer(chars):
        start, end = match.span()
        kept = keep(match)
        parts.append(chars[position:start] + kept)
        where.extend(origin[position:start + len(kept)])
        position = end
    parts.append(chars[position:])
    where.extend(origin[position:])
    return "".join(parts), where
