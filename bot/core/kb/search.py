"""Finding the entry that answers a question: BM25 over character n-grams, no segmenter.

Rules of this module:
- Text is normalised as for screening (NFKC, Traditional to Simplified, case), then synonyms
  are rewritten to one form (欺负/欺凌 -> 霸凌), so a teen's word meets the author's.
- Chinese gives character unigrams and bigrams; other scripts give words and word bigrams.
  Entries are indexed by their questions (counted twice), title and answer.
- ``confidence`` (0..1) is the idf-weighted share of the query's bigrams and words found in the
  entry's questions and title: comparable between short and long questions, unlike raw BM25.
- Cost follows the query's terms and their posting lists, not the number of entries scanned.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import ahocorasick
import numpy as np

from bot.core.datafile import DataError, load_yaml
from bot.core.kb.model import Entry
from bot.core.risk.normalize import normalize

K1, B = 1.2, 0.75
QUESTION_WEIGHT = 2
MAX_QUERY_CHARS = 500
_WORD = re.compile(r"[a-z0-9]+")
_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")
_STOP = frozenset({
    "the", "a", "an", "is", "are", "am", "be", "to", "of", "and", "or", "in", "on", "for",
    "my", "me", "i", "it", "do", "does", "can", "what", "how", "if", "with", "at", "by",
    "this", "that", "you", "your", "was", "were",
})


@dataclass(frozen=True, slots=True)
class Hit:
    entry: Entry
    score: float
    confidence: float


class Synonyms:
    """Rewrites every listed variant to its group's first word, longest match first."""

    def __init__(self, groups: Sequence[Sequence[str]]) -> None:
        self._automaton = ahocorasick.Automaton()
        for group in groups:
            canonical = normalize(group[0]).text
            for word in group[1:]:
                key = normalize(word).text
                if key and key != canonical:
                    self._automaton.add_word(key, (key, canonical))
        self._empty = len(self._automaton) == 0
        if not self._empty:
            self._automaton.make_automaton()

    def rewrite(self, text: str) -> str:
        if self._empty:
            return text
        spans = sorted(((end - len(key) + 1, end + 1, canonical)
                        for end, (key, canonical) in self._automaton.iter_long(text)))
        parts, position = [], 0
        for start, end, canonical in spans:
            if start >= position:
                parts.append(text[position:start] + canonical)
                position = end
        parts.append(text[position:])
        return "".join(parts)


def load_synonyms(path: Path) -> Synonyms:
    """``groups:`` of words that mean the same; raises ``DataError`` with the file and line."""
    data, positions = load_yaml(path)
    groups = data.get("groups") if isinstance(data, dict) else None
    if not isinstance(groups, list) or not all(
            isinstance(g, list) and len(g) >= 2 and all(isinstance(w, str) for w in g)
            for g in groups):
        raise DataError([positions.issue(("groups",), "groups must be a list of lists of at "
                                                      "least two words")])
    return Synonyms(groups)


def terms(text: str, synonyms: Synonyms) -> list[str]:
    text = synonyms.rewrite(normalize(text[:MAX_QUERY_CHARS * 4]).text)
    out: list[str] = []
    for run in _HAN.findall(text):
        out.extend(run)
        out.extend(run[i:i + 2] for i in range(len(run) - 1))
    words = [w for w in _WORD.findall(text) if w not in _STOP]
    stems = [w[:-1] if len(w) > 4 and w.endswith("s") else w for w in words]
    out.extend(stems)
    out.extend(f"{a} {b}" for a, b in zip(stems, stems[1:], strict=False))
    return out


class Index:
    def __init__(self, entries: Sequence[Entry], synonyms: Synonyms) -> None:
        self.entries = tuple(entries)
        self.synonyms = synonyms
        postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        lengths = []
        for number, entry in enumerate(self.entries):
            counts = Counter(self._document(entry))
            lengths.append(sum(counts.values()))
            for term, count in counts.items():
                postings[term].append((number, count))
        # the terms of each entry's questions and title: what a confident match must share
        self.asked = [frozenset(terms(" ".join((*e.questions.zh, *e.questions.en, e.title.zh,
                                                 e.title.en)), synonyms)) for e in self.entries]
        self.lengths = lengths
        self.average = (sum(lengths) / len(lengths)) if lengths else 1.0
        total = len(self.entries)
        self.idf = {term: math.log(1 + (total - len(p) + 0.5) / (len(p) + 0.5))
                    for term, p in postings.items()}
        # each posting's BM25 weight, computed once: a query only adds arrays together
        length = np.asarray(lengths, dtype=np.float64)
        self.postings: Mapping[str, tuple[np.ndarray, np.ndarray]] = {}
        for term, rows in postings.items():
            docs = np.fromiter((d for d, _ in rows), dtype=np.int64, count=len(rows))
            tf = np.fromiter((c for _, c in rows), dtype=np.float64, count=len(rows))
            norm = K1 * (1 - B + B * length[docs] / self.average)
            self.postings[term] = (docs, self.idf[term] * tf * (K1 + 1) / (tf + norm))
        self.rare = math.log(1 + (total + 0.5) / 0.5)  # the idf of a term no entry has

    def _document(self, entry: Entry) -> Iterable[str]:
        questions = " ".join((*entry.questions.zh, *entry.questions.en))
        for _ in range(QUESTION_WEIGHT):
            yield from terms(questions, self.synonyms)
        yield from terms(f"{entry.title.zh} {entry.title.en}", self.synonyms)
        yield from terms(f"{entry.answer.zh} {entry.answer.en}", self.synonyms)

    def search(self, query: str, top: int = 3) -> list[Hit]:
        asked = Counter(terms(query, self.synonyms))
        counts = Counter({t: c for t, c in asked.items() if t in self.idf})
        if not counts:
            return []
        scores = np.zeros(len(self.entries))
        for term, query_count in counts.items():
            docs, weights = self.postings[term]
            scores[docs] += weights * query_count  # a term occurs once per entry's postings
        top = min(top, len(scores))
        best = np.argpartition(-scores, top - 1)[:top]
        ranked = sorted(((int(n), float(scores[n])) for n in best if scores[n] > 0),
                        key=lambda item: -item[1])
        return [Hit(entry=self.entries[n], score=s, confidence=self._confidence(asked, n))
                for n, s in ranked]

    def _confidence(self, asked: Counter[str], number: int) -> float:
        """How much of the query's informative terms (character bigrams, words) the entry's
        questions and title hold, weighted by idf; words no entry knows weigh the most, so a
        question mostly about something else is not answered by its one familiar word."""
        informative = {t: c for t, c in asked.items() if len(t) > 1}
        weight = {t: self.idf.get(t, self.rare) * c for t, c in informative.items()}
        total = sum(weight.values())
        if not total:
            return 0.0
        held = self.asked[number]
        return sum(w for t, w in weight.items() if t in held) / total
