"""Assessing one message for risk: level, categories, evidence and the reason.

Rules (from ``../shared/research/risk_screening.md``; when in doubt, the higher level):
1. Terms are found in the normalised text by one automaton pass; English keys only count on
   word boundaries, Chinese keys anywhere.
2. A term inside a benign phrase (笑死, 想死你了, "killing it"), or ending inside one (她说想死
   in 她说想死你了), is not a hit.
3. A hit right after a negation (我没有想自杀, "never wanted to kill myself") counts as ``low``
   -- unless the message also holds a first-person hit that is not negated. A negation reaches
   only the next term, never across the end of a sentence, and never a term that starts where
   it starts (从来没有这么想死 is an intensifier, listed as a term).
4. A hit in reported speech (news, a story, a film) with no first-person marker, or in
   schoolwork or a play about the subject (even with "I", within ``SCHOOLWORK_REACH``
   characters of the schoolwork), counts at most ``low``; someone else
   at risk ("my friend wants to kill herself") stays as it is: the person writing needs help
   for them.
   Threats to or from others said as a joke (开玩笑的, "jk") count ``low``; death wishes about
   oneself never do. A question about a way or a dose to die (``asks_method``) keeps its level
   whatever excuse comes with it ("for a school project", 纯粹好奇); only news about someone
   else lowers it.
5. A method and a time or plan together with a hit of ``medium`` or more make it
   ``imminent``; with only a ``low`` hit (今晚去天台看星星) they change nothing. A method
   already used (吞了一堆药, "took 30 pills") with a hit of ``medium`` or more, or with
   any overdose or self-harm term, is ``imminent``: when in doubt, escalate.
6. Where the lexicon found nothing ``high``, the learned model (``model.py``) reads the whole
   message, then each clause of a long one, and may add a hit: ``high`` or ``low``, never
   ``medium``, never lowering anything; its ``high`` joins "a method already used" only when it
   is sure (never "a method and a time": 吃药 and 今晚 are everyday words), beside an idiom, in a
   question about the law (合法吗, "is that legal") or in grief for a grandparent or a pet
   (奶奶去世, "grandpa passed away") it must be sure, and after a negated or denying term (不想死)
   it says at most ``low``.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from operator import itemgetter
from pathlib import Path
from typing import NamedTuple

from bot.core.risk.lexicon import Combo, Entry, Level, Lexicon, load_lexicon
from bot.core.risk.model import RiskModel, Thresholds, load_model
from bot.core.risk.normalize import Normalized, normalize

MAX_CHARS = 100_000
# clauses end at punctuation, and at a space between two Chinese characters: teens type
# spaces where a comma would go (…吃了火锅 对了 绳子我已经挂好在阳台了 等他们都睡着)
_CLAUSE_END = re.compile(r"[.!?;。！？；…\n,，、]|(?<=[^\x00-\x7f])\s+(?=[^\x00-\x7f])")
MIN_CLAUSE = 10  # normalised characters: shorter clauses are read only as part of the whole
_SENTENCE_END = re.compile(r"[.!?;。！？；…\n]")
SCHOOLWORK_REACH = 20  # characters around a schoolwork or play signal where hits are read as it
NEGATION_REACH = 4  # characters between a negation and the term it negates; a term may also
# start inside the negation (没有想 + 想伤害自己), but never where it starts (不打算活 is a term)
# threats to or from others said as a joke count low; a death wish about oneself never does
JOKED_ABOUT = frozenset({"violence_to_others", "threats_received"})
ACTED_CATEGORIES = frozenset({"substance_overdose", "self_harm"})


class Evidence(NamedTuple):  # a named tuple: several times cheaper to make than a frozen class
    category: str
    level: Level
    term: str
    start: int  # in the original text
    end: int
    quote: str


@dataclass(frozen=True, slots=True)
class Assessment:
    level: Level
    categories: tuple[str, ...]
    evidence: tuple[Evidence, ...]
    # what the reason is made of: each hit with what changed its level, or a plain sentence;
    # written out only when asked for (``qingxin screen`` never does)
    why: tuple[tuple[Entry, str] | str, ...]

    @property
    def reason(self) -> str:
        return "; ".join(part if isinstance(part, str)
                         else f"{part[0].term!r} ({part[0].name}, {part[0].level.label}{part[1]})"
                         for part in self.why)

    def as_json(self) -> dict:
        return {"level": self.level.label, "categories": list(self.categories),
                "evidence": [{"category": e.category, "level": e.level.label, "term": e.term,
                              "start": e.start, "end": e.end, "text": e.quote}
                             for e in self.evidence],
                "reason": self.reason}


NO_RISK = Assessment(level=Level.NONE, categories=(), evidence=(), why=("no risk terms",))


@dataclass(slots=True, eq=False)  # not frozen: a frozen dataclass is several times slower to make
class _Hit:
    start: int
    end: int
    entry: Entry
    sure: bool = True  # the model's hit: sure enough to join "a method already used"


_WORD = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def _in_idiom(end: int, idioms: list[tuple[int, int]]) -> bool:
    """Whether a hit ending at ``end`` ends inside one of the idioms: then it is the idiom."""
    for start, stop in idioms:  # noqa: SIM110 - any() with a generator costs more, on every hit
        if start < end <= stop:
            return True
    return False


def _bounded(text: str, start: int, end: int) -> bool:
    """English keys must stand as words; Chinese ones may sit anywhere."""
    if start > 0 and text[start] in _WORD and text[start - 1] in _WORD:
        return False
    return not (end < len(text) and text[end - 1] in _WORD and text[end] in _WORD)


@dataclass(slots=True)
class _Reading:
    """What the lexicon found in one message, before the model's opinion and the judgement."""
    original: str
    norm: Normalized
    terms: list[_Hit]
    signals: dict[str, list[tuple[int, int]]]
    # an idiom explains the alarming words, the message asks about the law or mourns a
    # grandparent or a pet: the model's high must be sure
    cautious: bool
    idioms: list[tuple[int, int]]  # benign phrases, hidden from the model

    def wants_opinion(self) -> bool:
        for hit in self.terms:  # noqa: SIM110 - a plain loop: it runs for every message
            if hit.entry.level >= Level.HIGH:
                return False
        return True

    def for_model(self) -> str:
        """The normalised text with its idioms blanked out: 冻到我想死 explains its 想死, so
        the model must not read 想死 there (the same length, so offsets still hold)."""
        text = self.norm.text
        for start, end in self.idioms:
            text = text[:start] + " " * (end - start) + text[end:]
        return text


_FAILED = Assessment(level=Level.MEDIUM, categories=(), evidence=(),
                     why=("screening failed on this input; treated as medium",))


class Screener:
    def __init__(self, lexicon: Lexicon, model: RiskModel | None = None) -> None:
        self.lexicon = lexicon
        self.model = model

    def assess(self, text: str) -> Assessment:
        return self.assess_many([text])[0]

    def assess_many(self, texts: Sequence[str]) -> list[Assessment]:
        """One assessment a message, as ``assess`` would give it; the model reads all of them
        together, which is several times cheaper than one at a time."""
        try:
            return self._assess_many([text[:MAX_CHARS] for text in texts])
        except Exception:  # never let a message slip through because of our own bug
            if len(texts) == 1:
                return [_FAILED]
            return [self.assess(text) for text in texts]  # a bad message costs only itself

    def _assess_many(self, texts: list[str]) -> list[Assessment]:
        readings = [self._read(text) for text in texts]
        opinions: dict[int, _Hit | None] = {}
        if self.model is not None:
            asked = [(i, reading) for i, reading in enumerate(readings)
                     if reading is not None and reading.wants_opinion()]
            opinions = dict(zip((i for i, _ in asked),
                                _second_opinions(self.model, [r for _, r in asked]), strict=True))
        assessments = []
        for i, reading in enumerate(readings):
            if reading is None:
                assessments.append(NO_RISK)
                continue
            terms = reading.terms
            if (opinion := opinions.get(i)) is not None:
                terms = [*terms, opinion]
            assessments.append(_judge(reading.original, reading.norm, terms, reading.signals)
                               if terms else NO_RISK)
        return assessments

    def _read(self, original: str) -> _Reading | None:
        """The lexicon's hits and signals in a message; None where nothing can be a risk."""
        norm = normalize(original)
        text = norm.text
        if not text:
            return None
        matches = list(self.lexicon.automaton.iter(text))
        if self.model is None and not any(found.terms or found.parts for _, found in matches):
            return None  # the common case: signals or idioms alone are nothing
        benign: list[tuple[int, int]] = []
        signals: dict[str, list[tuple[int, int]]] = {}  # only the signals found
        found_terms: list[_Hit] = []
        parts: list[tuple[int, int, tuple[tuple[Combo, int], ...]]] = []  # matches of parts
        seen: dict[Combo, int] = {}  # each combination's parts found so far, one bit a part
        for end, (length, edges, terms_here, signals_here, benign_here, parts_here) in matches:
            start, stop = end - length + 1, end + 1
            if edges and not _bounded(text, start, stop):
                continue
            if terms_here:  # most keys are one kind only: test before looping
                for entry in terms_here:
                    found_terms.append(_Hit(start, stop, entry))
            if parts_here:
                parts.append((start, stop, parts_here))
                for combo, bit in parts_here:
                    seen[combo] = seen.get(combo, 0) | bit
            if benign_here:
                benign.append((start, stop))
            if signals_here:
                for entry in signals_here:
                    spans = signals.get(entry.name)
                    if spans is None:
                        signals[entry.name] = [(start, stop)]
                    else:
                        spans.append((start, stop))
        if parts:
            complete = [combo for combo, bits in seen.items() if bits == combo.all_parts]
            if complete:
                found_terms.extend(_combined(complete, parts))
        if benign and found_terms:  # a hit whose end lies in an idiom (她说想死 in 她说想死你了)
            found_terms = [hit for hit in found_terms if not _in_idiom(hit.end, benign)]
        terms = _longest(found_terms) if len(found_terms) > 1 else found_terms
        cautious = bool(benign) or "asks_law" in signals or "mourning" in signals
        return _Reading(original, norm, terms, signals, cautious=cautious, idioms=benign)


def load_screener(directory: Path, repeat: int = 1) -> Screener:
    """The lexicon of ``directory`` and its model, where one is shipped (see ``load_lexicon``
    for ``repeat``). Raises ``DataError`` naming the file and line of any problem."""
    return Screener(load_lexicon(directory, repeat=repeat), load_model(directory))


def _second_opinions(model: RiskModel, readings: list[_Reading]) -> list[_Hit | None]:
    """The model's reading of each message as one more hit, where the lexicon found nothing
    high: ``high`` (a crisis of some category) or ``low`` (distress). Never ``medium``: a medium
    reply interrupts with support and three of them escalate, which a guess should not do. Its
    evidence is the feature that weighed most. Where an idiom explains the alarming words (笑死,
    "what does unalive mean") or the message asks about the law (a guess must not interrupt a
    legal answer with the crisis protocol), only a sure score counts as high.

    It reads the whole message and each clause of a long one: one sentence of danger inside a
    chatty paragraph (…then I swallowed everything in the cabinet. anyway how was your day) is
    drowned out in the whole but not in its clause. All the texts of all the messages are
    scored in one call."""
    limits = model.thresholds
    documents: list[str] = []
    spans: list[tuple[int, int]] = []  # each reading's documents: its whole, then its clauses
    offsets: list[int] = []  # where each document starts in its message's normalised text
    for reading in readings:
        whole = len(documents)
        readable = reading.for_model()
        documents.append(readable)
        offsets.append(0)
        for start, clause in _clauses(reading.original, reading.norm, readable):
            documents.append(clause)
            offsets.append(start)
        spans.append((whole, len(documents)))
    crisis, distress, strongest = model.score_many(documents)
    best: list[int] = []  # the document each reading's opinion rests on
    hits: list[_Hit | None] = []
    for reading, (whole, end) in zip(readings, spans, strict=True):
        needed = limits.sure if reading.cautious else limits.high
        best.append(whole if crisis[whole] >= needed
                    else whole + int(crisis[whole:end].argmax()))
        hits.append(_opinion(reading, float(crisis[best[-1]]), float(distress[whole]),
                             needed, limits))
    for i, hit in enumerate(hits):
        if hit is not None:
            fragment = model.feature(int(strongest[best[i]])) or ""
            hits[i] = _with_evidence(hit, readings[i].norm.text, fragment.strip(),
                                     offsets[best[i]])
    return hits


def _opinion(reading: _Reading, crisis: float, distress: float, needed: float,
             limits: Thresholds) -> _Hit | None:
    """The model's hit for one message, without its evidence yet; ``needed`` is the crisis
    score that makes it high (``sure`` where the reading is cautious)."""
    if crisis >= needed:
        level = Level.HIGH
        category = next((hit.entry.name for hit in reading.terms
                         if hit.entry.name != "distress"), "unspecified")
    elif distress >= limits.low or crisis >= limits.low:
        level, category = Level.LOW, "distress"
    else:
        return None
    entry = Entry("model", category, level, f"model (crisis {crisis:.2f}, distress "
                                           f"{distress:.2f})")
    return _Hit(0, 0, entry, sure=crisis >= limits.sure)


def _with_evidence(hit: _Hit, text: str, fragment: str, offset: int) -> _Hit:
    """The hit spans the feature that weighed most, found from its clause on; else the whole."""
    start = text.find(fragment, offset) if fragment else -1
    start, end = (start, start + len(fragment)) if start >= 0 else (0, len(text))
    return _Hit(start, end, hit.entry, sure=hit.sure)


def _clauses(original: str, norm: Normalized, text: str) -> list[tuple[int, str]]:
    """(start, normalised clause) for each clause of at least ``MIN_CLAUSE`` characters, where
    the original has two or more; clauses end at sentence punctuation and commas."""
    cuts = sorted({bisect_left(norm.origin, found.start())
                   for found in _CLAUSE_END.finditer(original)} - {0, len(norm.text)})
    if not cuts:
        return []
    bounds = zip([0, *cuts], [*cuts, len(norm.text)], strict=True)
    return [(start, text[start:end].strip()) for start, end in bounds
            if len(text[start:end].strip()) >= MIN_CLAUSE]


def _combined(complete: list[Combo],
              parts: list[tuple[int, int, tuple[tuple[Combo, int], ...]]]) -> list[_Hit]:
    """One hit for each combination of ``complete`` (every part found somewhere) whose parts
    all lie within its reach, in any order; the hit spans from the first part to the last."""
    by_combo: dict[Combo, list[tuple[int, int, int]]] = {combo: [] for combo in complete}
    for start, end, here in parts:
        for combo, bit in here:
            found = by_combo.get(combo)
            if found is not None:
                found.append((start, end, bit))
    hits = []
    for combo, found in by_combo.items():
        found.sort()
        for first, _, _ in found:
            bits = last = 0
            for start, end, bit in found:
                if first <= start and end - first <= combo.within:
                    bits |= bit
                    last = max(last, end)
            if bits == combo.all_parts:
                hits.append(_Hit(first, last, _combo_entry(combo)))
                break
    return hits


@cache
def _combo_entry(combo: Combo) -> Entry:
    """The term a combination stands for once it matched (made once a combination)."""
    return Entry("term", combo.name, combo.level, combo.term, asks_method=combo.asks_method)


def _longest(terms: list[_Hit]) -> list[_Hit]:
    """Drop a term inside a longer term of the same category (自杀 inside 想自杀): the longer,
    more specific phrase decides, which is how denials (没有想自杀, low) work."""
    kept = []
    for hit in terms:  # plain loops: this runs for most messages, and generators cost more
        start, end = hit.start, hit.end
        for other in terms:
            if (other.start <= start and end <= other.end
                    and other.end - other.start > end - start
                    and other.entry.name == hit.entry.name):
                break
        else:
            kept.append(hit)
    return kept


def _judge(original: str, norm: Normalized, terms: list[_Hit],
           signals: dict[str, list[tuple[int, int]]]) -> Assessment:
    reasons: list[tuple[Entry, str] | str] = []
    first_person = "first_person" in signals
    # someone else's story, unless the writer says it is meant ("asking for real, not for a story")
    reported = ("reported" in signals and "news" in signals and not first_person
                and "serious" not in signals)
    schoolwork = signals.get("schoolwork", [])
    news = reported or bool(schoolwork)
    negations = signals.get("negation")
    joking = "joking" in signals and "serious" not in signals  # 我不是开玩笑 is meant
    # a risk the lexicon found was negated or denied (我没有想自杀): the model defers
    denied = False
    for hit in terms:
        if hit.entry.denies:
            denied = True
            break
    levels: list[Level] = []
    # distress never turns a method and a time into a plan, nor does the model's guess (吃药 and
    # 今晚 are everyday words); a sure guess may join a method already used
    stated = risk = Level.NONE
    for hit in terms:  # plain loops: this runs for most messages, and generators cost more
        entry = hit.entry
        level, note = entry.level, ""
        if entry.kind == "model":
            if denied:
                level, note = min(level, Level.LOW), "; the lexicon's hit was negated"
            elif reported or (schoolwork and _near(hit, schoolwork)):
                level, note = min(level, Level.LOW), "; reported (news or story)"
        elif negations and _negated(hit, terms, negations, original, norm):
            denied = denied or (entry.name != "distress" and level >= Level.MEDIUM)
            level, note = min(level, Level.LOW), "; negated"
        elif entry.asks_method and not reported:
            pass  # "for a school project", "just curious": a question about a way to die stands
        elif reported or (schoolwork and _near(hit, schoolwork)):
            level, note = min(level, Level.LOW), "; reported (news or story)"
        elif joking and entry.name in JOKED_ABOUT:
            level, note = min(level, Level.LOW), "; said as a joke"
        levels.append(level)
        reasons.append((entry, note))
        if entry.name != "distress":
            if entry.kind != "model" and level > stated:
                stated = level
            if hit.sure and level > risk:
                risk = level
    level = max(levels)
    if "methods" in signals and not news:
        if "time_or_plan" in signals and stated >= Level.MEDIUM:
            level = Level.IMMINENT  # a real risk statement, a means and a when: act now
            reasons.append("method with a time or plan")
        elif "acted" in signals and (risk >= Level.MEDIUM or any(
                hit.entry.name in ACTED_CATEGORIES for hit in terms)):
            level = Level.IMMINENT  # it has been done (吞了一堆药, took 30 pills): emergency
            reasons.append("a method already used")
    counted = [(lvl, hit) for hit, lvl in zip(terms, levels, strict=True)
               if lvl > Level.NONE]
    if len(counted) > 1:
        counted.sort(key=_first, reverse=True)  # stable: equal levels keep their order
    categories = tuple(dict.fromkeys([hit.entry.name for _, hit in counted]))
    evidence = []
    for lvl, hit in counted:
        start, end = norm.span(hit.start, hit.end)
        evidence.append(Evidence(hit.entry.name, lvl, hit.entry.term, start, end,
                                 original[start:end]))
    return Assessment(level=level, categories=categories, evidence=tuple(evidence),
                      why=tuple(reasons))


_first = itemgetter(0)


def _near(hit: _Hit, spans: list[tuple[int, int]]) -> bool:
    """Schoolwork or a play counts for the words around it, not for a whole long message (we
    rehearsed a play today … then my dad hit me with a slipper: the beating is no play)."""
    return any(start - SCHOOLWORK_REACH <= hit.end and hit.start <= end + SCHOOLWORK_REACH
               for start, end in spans)


def _negated(hit: _Hit, terms: list[_Hit], negations: list[tuple[int, int]],
             original: str, norm: Normalized) -> bool:
    """A negation reaches the next term only (我没有想自杀只是想永远睡着: the second is still
    meant), and never across the end of a sentence ("i'm not. i have a plan")."""
    for start, end in negations:
        if not start < hit.start <= end + NEGATION_REACH or any(
                other is not hit and other.entry.kind != "model" and end < other.end <= hit.start
                for other in terms):
            continue
        gap = original[norm.span(end - 1, end)[1]:norm.span(hit.start, hit.start + 1)[0]] \
            if end < hit.start else ""
        if not _SENTENCE_END.search(gap):
            return True
    return False
