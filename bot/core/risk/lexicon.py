"""The risk lexicon (``knowledge/risk/*.yaml``, format in its README), checked and compiled into
one Aho-Corasick automaton, so matching costs grow with the message, not with the lexicon.

Raises ``DataError`` with ``path:line:col`` for every problem found.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Annotated, Literal, NamedTuple

import ahocorasick
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from bot.core.datafile import DataError, DataIssue, Positions, load_yaml
from bot.core.risk.normalize import normalize


class Level(IntEnum):
    NONE = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    IMMINENT = 4

    @property
    def label(self) -> str:
        return _LABELS[self]

    @classmethod
    def parse(cls, name: str) -> Level:
        return cls[name.upper()]


_LABELS = tuple(level.name.lower() for level in Level)
CATEGORIES = ("suicide", "self_harm", "physical_abuse", "sexual_abuse", "neglect",
              "severe_bullying", "threats_received", "violence_to_others", "running_away",
              "substance_overdose", "distress")
SIGNALS = ("methods", "time_or_plan", "negation", "reported", "first_person", "acted", "news",
           "schoolwork", "joking", "serious", "asks_law", "mourning")
Words = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TermSpec(_Strict):
    term: Words
    lang: Literal["zh", "en"]
    level: Literal["low", "medium", "high", "imminent"]
    variants: tuple[Words, ...] = ()
    denies: bool = False  # says the risk is absent (我没有想自杀): the model then defers
    asks_method: bool = False  # asks for a way or a dose: no excuse lowers it (see screener)
    note: str | None = None

    @model_validator(mode="after")
    def _a_denial_is_low(self) -> TermSpec:
        if self.denies and self.level != "low":
            raise ValueError("a term that denies the risk must be level low")
        return self


class ComboSpec(_Strict):
    """Words that mean risk only together, near each other, in any order (攒 ... 药 ...,
    "how many" ... "to die"): each part is a list of alternatives."""

    combo: Words  # the plain description, for the reason
    lang: Literal["zh", "en"]
    level: Literal["low", "medium", "high", "imminent"]
    parts: tuple[tuple[Words, ...], ...] = Field(min_length=2, max_length=4)
    within: int = Field(default=16, ge=2, le=160)  # characters from the first part to the last
    asks_method: bool = False  # asks for a way or a dose: no excuse lowers it (see screener)
    note: str | None = None


class CategoryFile(_Strict):
    category: Literal[CATEGORIES]  # type: ignore[valid-type]
    terms: tuple[TermSpec, ...] = Field(min_length=1)
    combos: tuple[ComboSpec, ...] = ()


class ByLang(_Strict):
    zh: tuple[Words, ...] = ()
    en: tuple[Words, ...] = ()


class SignalsFile(_Strict):
    methods: ByLang
    time_or_plan: ByLang
    negation: ByLang
    reported: ByLang
    first_person: ByLang
    acted: ByLang = ByLang()  # it has already happened: 吞了, 割了, took, swallowed
    news: ByLang = ByLang()  # with "reported" and no "I": someone else's story (新闻, movie)
    schoolwork: ByLang = ByLang()  # schoolwork or a play about the subject, even with "I"
    joking: ByLang = ByLang()  # a threat said as a joke (开玩笑的, jk)
    serious: ByLang = ByLang()  # said to be meant (不是开玩笑, "i'm serious"): not a joke
    asks_law: ByLang = ByLang()  # a question about the law or one's rights (合法吗, legally)
    mourning: ByLang = ByLang()  # a grandparent's or pet's death (奶奶去世): grief, not danger


class BenignFile(_Strict):
    phrases: ByLang


@dataclass(frozen=True, slots=True, eq=False)
class Combo:
    """A compiled ``ComboSpec``: it matches when every part is found within ``within``."""

    name: str  # category
    level: Level
    term: str
    all_parts: int  # one bit a part: the parts found, or-ed together, equal this when complete
    within: int
    asks_method: bool = False


class Entry(NamedTuple):
    """What a matched key means: a risk term, a signal, or a benign phrase (a named tuple: the
    cached screener holds some 20,000, and a tuple is several times quicker to unpickle than a
    frozen dataclass)."""

    kind: Literal["term", "signal", "benign", "model"]
    name: str  # category, signal name, or "benign"
    level: Level
    term: str  # the plain form, for the reason
    denies: bool = False  # a term that says the risk is absent (不想死, 没有想自杀)
    asks_method: bool = False  # asks for a way or a dose (how many pills would…)


class Found(NamedTuple):
    """What the automaton holds for one key, sorted by kind so matching does no sorting."""

    length: int
    edges: bool  # an English key: it must stand as a word
    terms: tuple[Entry, ...]
    signals: tuple[Entry, ...]
    benign: tuple[Entry, ...]
    parts: tuple[tuple[Combo, int], ...]  # the combinations it is a part of, and that part's bit


@dataclass(frozen=True, slots=True)
class Lexicon:
    automaton: ahocorasick.Automaton
    size: int  # number of keys


def load_lexicon(directory: Path, repeat: int = 1) -> Lexicon:
    """Load every file of ``directory``. ``repeat`` > 1 adds that many disguised copies of every
    key, for measuring that matching does not slow down with lexicon size."""
    issues: list[DataIssue] = []
    entries: dict[str, list[Entry]] = {}
    parts: dict[str, list[tuple[Combo, int]]] = {}
    seen_categories: dict[str, str] = {}
    files = sorted(directory.glob("*.yaml"))
    if not files:
        issues.append(DataIssue(path=str(directory), line=1, col=1, message="no lexicon files"))
    for path in files:
        try:
            data, positions = load_yaml(path)
        except DataError as exc:
            issues.extend(exc.issues)
            continue
        model = {"signals": SignalsFile, "benign": BenignFile}.get(path.stem, CategoryFile)
        try:
            parsed = model.model_validate(data)
        except ValidationError as exc:
            issues.extend(positions.issue(tuple(e["loc"]), f"{'.'.join(map(str, e['loc']))}: "
                                          f"{e['msg']}") for e in exc.errors())
            continue
        if isinstance(parsed, CategoryFile):
            if parsed.category in seen_categories:
                issues.append(positions.issue(("category",), f"category {parsed.category!r} is "
                                              f"also in {seen_categories[parsed.category]}"))
            seen_categories[parsed.category] = str(path)
            _add_terms(parsed, positions, entries, parts, issues)
        elif isinstance(parsed, SignalsFile):
            for name in SIGNALS:
                _add_words(getattr(parsed, name), (name,), "signal", name, positions, entries,
                           issues)
        else:
            _add_words(parsed.phrases, ("phrases",), "benign", "benign", positions, entries,
                       issues)
    if issues:
        raise DataError(issues)
    automaton = ahocorasick.Automaton()
    for key in dict.fromkeys([*entries, *parts]):  # in a fixed order: the same automaton
        # English keys count only as whole words: say so once here, not per match
        edges = (key[0].isascii() and key[0].isalnum()) or (key[-1].isascii()
                                                             and key[-1].isalnum())
        values = entries.get(key, [])
        found = Found(len(key), edges, *(tuple(v for v in values if v.kind == kind)
                                         for kind in ("term", "signal", "benign")),
                      tuple(parts.get(key, ())))
        automaton.add_word(key, found)
        for copy in range(1, repeat):
            automaton.add_word(f"{key}\x00{copy}", found)
    automaton.make_automaton()
    return Lexicon(automaton=automaton, size=len(entries.keys() | parts.keys()) * repeat)


def _key(word: str, positions: Positions, where: tuple, issues: list[DataIssue]) -> str | None:
    key = normalize(word).text
    if not key:
        issues.append(positions.issue(where, f"{word!r} is empty once normalised"))
        return None
    return key


def _add_terms(parsed: CategoryFile, positions: Positions, entries: dict[str, list[Entry]],
               parts: dict[str, list[tuple[Combo, int]]], issues: list[DataIssue]) -> None:
    written: set[str] = set()
    mine: set[str] = set()
    for i, spec in enumerate(parsed.terms):
        level = Level.parse(spec.level)
        for j, word in enumerate((spec.term, *spec.variants)):
            where = ("terms", i, "term") if j == 0 else ("terms", i, "variants", j - 1)
            if word.casefold() in written:
                issues.append(positions.issue(where, f"duplicate term {word!r} in this file"))
                continue
            written.add(word.casefold())
            key = _key(word, positions, where, issues)
            if key is None or key in mine:
                continue  # a spelling that normalises to a term already here adds nothing
            mine.add(key)
            entries.setdefault(key, []).append(
                Entry("term", parsed.category, level, spec.term, denies=spec.denies,
                      asks_method=spec.asks_method))
    for i, combo_spec in enumerate(parsed.combos):
        combo = Combo(name=parsed.category, level=Level.parse(combo_spec.level),
                      term=combo_spec.combo, all_parts=(1 << len(combo_spec.parts)) - 1,
                      within=combo_spec.within, asks_method=combo_spec.asks_method)
        for j, alternatives in enumerate(combo_spec.parts):
            keys: set[str] = set()
            for k, word in enumerate(alternatives):
                key = _key(word, positions, ("combos", i, "parts", j, k), issues)
                if key is None or key in keys:
                    continue
                keys.add(key)
                parts.setdefault(key, []).append((combo, 1 << j))


def _add_words(words: ByLang, where: tuple, kind: Literal["signal", "benign"], name: str,
               positions: Positions, entries: dict[str, list[Entry]],
               issues: list[DataIssue]) -> None:
    for lang in ("zh", "en"):
        for i, word in enumerate(getattr(words, lang)):
            key = _key(word, positions, (*where, lang, i), issues)
            if key is not None:
                entries.setdefault(key, []).append(Entry(kind, name, Level.NONE, word))
