"""A learned second opinion for the screener: logistic regression over character n-grams and
English words of the normalised text, shipped as ``knowledge/risk/model.json``.

Why: the lexicon finds what it lists, but teens describe danger in endless indirect ways
(我已经写好给爸妈的信了, "I won't be a problem much longer"). The model, trained by
``qingxin train screening`` on the labelled messages of ``knowledge/risk/training/``, reads the
whole message. Rules of its use (see ``screener.py``):
- it can raise a level to ``low`` or ``high``, never to ``imminent`` on its own and
  never lower anything the lexicon found; above its ``sure`` threshold its ``high`` joins "a
  method already used" (刚才吞了半瓶药), and beside an idiom only a sure score counts;
- it has two heads: ``crisis`` (high or imminent) and ``distress`` (low or above); the
  thresholds were chosen on cross-validated scores when it was trained;
- the crisis head's features carry a naive-Bayes ratio (NBSVM): a message's crisis vector is
  the ratios of the features it has, divided by ``sqrt(sum of their squares + short_floor)``
  so that two or three words cannot score like a sentence; the distress vector is binary and
  of unit length.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import NamedTuple

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.core.datafile import DataError, DataIssue

MAX_NGRAM = 3
MODEL_FILE = "model.json"
MAX_SLICE_CHARS = 1_000_000  # characters read by one numpy pass (about 100 MB of arrays)


def features(text: str) -> list[str]:
    """The features of a normalised text, every one a substring of ``f" {text} "``: its
    character n-grams (1 to 3) and its English words and word pairs between spaces (" want ",
    " want to "). Training calls this; screening looks up the same substrings of many texts at
    once (``RiskModel._found``), and a test holds the two to the same answer."""
    padded = f" {text} "
    found = {padded[i:i + n] for n in range(1, MAX_NGRAM + 1) for i in range(len(padded) - n + 1)}
    tokens = text.split(" ")
    english = [token.isascii() and token != "" for token in tokens]
    found.update(f" {token} " for token, ok in zip(tokens, english, strict=True) if ok)
    found.update(f" {a} {b} " for a, b, ok_a, ok_b
                 in zip(tokens, tokens[1:], english, english[1:], strict=False) if ok_a and ok_b)
    return list(found)


class Thresholds(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    high: float = Field(gt=0, lt=1)  # crisis head: high
    sure: float = Field(gt=0, lt=1)  # crisis head: sure enough to join a method already used
    low: float = Field(gt=0, lt=1)  # distress head: low


class ModelHead(BaseModel):
    """Everything in the file but the weights, which are checked with numpy (there are many)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    version: int = Field(ge=2, le=2)
    heads: tuple[str, str]
    bias: tuple[float, float]
    thresholds: Thresholds
    short_floor: float = Field(ge=0)
    trained_on: dict[str, object]


class Scores(NamedTuple):
    """A block's scores, one entry a text."""

    crisis: np.ndarray  # probability that the message is high or imminent
    distress: np.ndarray  # probability that it is low or above
    strongest: np.ndarray  # the feature row that pushed crisis up most (-1: none), for evidence


@dataclass(frozen=True, slots=True)
class Score:
    crisis: float  # probability that the message is high or imminent
    distress: float  # probability that it is low or above


_BITS = 21  # a code point fits in 21 bits, so up to three of them make one int64 key


def _gram_keys(grams: list[str]) -> np.ndarray:
    """The key of each character n-gram (n <= 3): its code points side by side, first char in
    the high bits; a shorter gram leaves the low bits zero (no normalised text holds U+0000)."""
    padded = "".join(gram.ljust(MAX_NGRAM, "\0") for gram in grams)
    codes = np.frombuffer(padded.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    codes = codes.astype(np.int64).reshape(-1, MAX_NGRAM)
    return (codes[:, 0] << (2 * _BITS)) | (codes[:, 1] << _BITS) | codes[:, 2]


class _GramTable:
    """The feature row of each n-gram key, as an open-addressing hash table (linear probing,
    at most half full) that numpy probes for a whole block of keys at once: two or three
    gathers instead of the sixteen steps of a binary search."""

    _MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: the top bits of k * 2^64/phi
    _EMPTY = -1  # no key is negative: three 21-bit code points fill 63 bits

    def __init__(self, keys: np.ndarray, rows: np.ndarray) -> None:
        self._bits = max(8, (2 * len(keys)).bit_length())
        size = 1 << self._bits
        self._keys = np.full(size, self._EMPTY, dtype=np.int64)
        self._rows = np.zeros(size, dtype=np.int32)
        home = self._home(keys)
        waiting = np.arange(len(keys))
        self._probes = 0  # the longest way from a key's home cell to its cell
        while len(waiting):  # each round, every free cell asked for takes the first key asking
            cells = (home[waiting] + self._probes) & (size - 1)
            free = self._keys[cells] == self._EMPTY
            taken, first = np.unique(cells[free], return_index=True)
            placed = waiting[free][first]
            self._keys[taken] = keys[placed]
            self._rows[taken] = rows[placed]
            waiting = np.setdiff1d(waiting, placed, assume_unique=True)
            self._probes += len(waiting) > 0

    def _home(self, keys: np.ndarray) -> np.ndarray:
        shift = np.uint64(64 - self._bits)
        return ((keys.astype(np.uint64) * self._MULTIPLIER) >> shift).astype(np.int64)

    def rows(self, keys: np.ndarray) -> np.ndarray:
        """The feature row of each key, or -1 where it is not a feature."""
        mask = (1 << self._bits) - 1
        home = self._home(keys)
        rows = np.full(len(keys), -1, dtype=np.int64)
        waiting = np.arange(len(keys))
        for probe in range(self._probes + 1):  # a key is found, or an empty cell says it is not
            cells = (home[waiting] + probe) & mask
            stored = self._keys[cells]
            same = stored == keys[waiting]
            rows[waiting[same]] = self._rows[cells[same]]
            waiting = waiting[~same & (stored != self._EMPTY)]
            if not len(waiting):
                break
        return rows


class RiskModel:
    def __init__(self, features: list[str], weights: np.ndarray, spec: ModelHead) -> None:
        self.thresholds = spec.thresholds
        self.trained_on = spec.trained_on
        self._features = features
        # one row a feature: crisis weight (ratio applied), distress weight, squared ratio
        self._table = np.column_stack([weights[:, :2], weights[:, 2] ** 2])
        self._short_floor = spec.short_floor
        self._bias = spec.bias
        # character n-grams are looked up many texts at a time by numpy; English words and word
        # pairs (" want ", " want to ", four characters or more) by a dict
        rows = np.array([index for index, f in enumerate(features) if len(f) <= MAX_NGRAM],
                        dtype=np.int64)
        self._grams = _GramTable(_gram_keys([features[index] for index in rows.tolist()]), rows)
        self._words = {f: index for index, f in enumerate(features) if len(f) > MAX_NGRAM}

    @cached_property
    def _index(self) -> dict[str, int]:
        """Every feature's row, for one text at a time (made on first use: ``qingxin screen``
        never needs it)."""
        return {feature: index for index, feature in enumerate(self._features)}

    def features_in(self, texts: Sequence[str]) -> list[set[str]]:
        """The learnt features of each normalised text, as a block of messages is read (a test
        holds them to what ``features()`` counts in training)."""
        documents, found = self._found(texts)
        sets: list[set[str]] = [set() for _ in texts]
        for document, index in zip(documents.tolist(), found.tolist(), strict=True):
            sets[document].add(self._features[index])
        return sets

    def score(self, text: str) -> Score:
        scores = self.score_many([text])
        return Score(float(scores.crisis[0]), float(scores.distress[0]))

    def score_many(self, texts: Sequence[str]) -> Scores:
        """(crisis, distress) probabilities of many normalised texts, and each one's strongest
        feature, computed together: numpy pays its call overhead once for all of them rather
        than once a message."""
        documents, found = self._lookup(texts)
        count = len(texts)
        rows = self._table[found]
        crisis = np.bincount(documents, rows[:, 0], minlength=count)
        squared = np.bincount(documents, rows[:, 2], minlength=count)
        distress = np.bincount(documents, rows[:, 1], minlength=count)
        known = np.bincount(documents, minlength=count)
        crisis = crisis / np.sqrt(squared + self._short_floor) + self._bias[0]
        distress = distress / np.sqrt(np.maximum(known, 1)) + self._bias[1]
        return Scores(_sigmoid(crisis), _sigmoid(distress),
                      _strongest(documents, found, rows[:, 0], count))

    def feature(self, row: int) -> str | None:
        """The text of a feature row (as ``Scores.strongest`` gives it); None for -1."""
        return self._features[row] if row >= 0 else None

    def _lookup(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``_found``, or for one text (a chat message) ``_found_in_one``, which is cheaper."""
        return self._found_in_one(texts[0]) if len(texts) == 1 else self._found(texts)

    def _found(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(document, feature) for each learnt feature of each text, every pair once, ordered by
        document, then by feature row: the substrings of ``f" {text} "`` that ``features()``
        would count. Read in slices of at most ``MAX_SLICE_CHARS``, so a block of 100 KB
        messages cannot take gigabytes."""
        slices = _slices(texts)
        if len(slices) > 1:
            parts = [(start, self._found(texts[start:end])) for start, end in slices]
            return (np.concatenate([documents + start for start, (documents, _) in parts]),
                    np.concatenate([found for _, (_, found) in parts]))
        padded = [f" {text} " for text in texts]
        codes = np.frombuffer("".join(padded).encode("utf-32-le", "surrogatepass"),
                              dtype=np.uint32).astype(np.int64)
        owner = np.repeat(np.arange(len(texts)), [len(text) for text in padded])
        documents: list[np.ndarray] = []
        found: list[np.ndarray] = []
        key = np.zeros(len(codes), dtype=np.int64)
        for n in range(1, MAX_NGRAM + 1):  # keys of the n-grams starting at each position
            key = key[:len(codes) - n + 1] | (codes[n - 1:] << (_BITS * (MAX_NGRAM - n)))
            rows = self._grams.rows(key)
            hit = (rows >= 0) & (owner[:len(key)] == owner[n - 1:])
            documents.append(owner[:len(key)][hit])
            found.append(rows[hit])
        words = [(document, index) for document, text in enumerate(texts)
                 for index in self._words_in(text)]
        if words:
            documents.append(np.array([document for document, _ in words], dtype=np.int64))
            found.append(np.array([index for _, index in words], dtype=np.int64))
        # every (document, feature) pair once; a sort, because numpy's hashing unique is slower,
        # of 32-bit numbers where they fit (nearly twice as fast)
        width = np.int32 if len(texts) * len(self._features) < 2**31 else np.int64
        pairs = np.sort((np.concatenate(documents) * len(self._features)
                         + np.concatenate(found)).astype(width)).astype(np.int64)
        pairs = pairs[_run_starts(pairs)]
        return pairs // len(self._features), pairs % len(self._features)

    def _found_in_one(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """``_found`` for one text, where numpy's set-up costs more than the lookups: the
        training's own ``features()``, looked up in a dict."""
        found = sorted(index for feature in features(text)
                       if (index := self._index.get(feature)) is not None)
        return np.zeros(len(found), dtype=np.int64), np.array(found, dtype=np.int64)

    def _words_in(self, text: str) -> list[int]:
        """English words and word pairs of two characters or more (a one-letter word " a " is
        a character 3-gram)."""
        found: list[int] = []
        lookup = self._words.get
        previous = ""
        for token in text.split(" "):
            if not (token and token.isascii()):
                previous = ""
                continue
            if len(token) > 1 and (index := lookup(f" {token} ")) is not None:
                found.append(index)
            if previous and (index := lookup(f" {previous} {token} ")) is not None:
                found.append(index)
            previous = token
        return found


def _strongest(documents: np.ndarray, found: np.ndarray, weights: np.ndarray,
               count: int) -> np.ndarray:
    """Each document's feature row of the greatest crisis weight (the first such row where
    several tie), or -1 where it has none; ``documents`` and ``found`` come ordered by document,
    then by row."""
    strongest = np.full(count, -1, dtype=np.int64)
    if not len(found):
        return strongest
    starts = np.flatnonzero(_run_starts(documents))
    top = np.maximum.reduceat(weights, starts)
    at_top = np.flatnonzero(weights == np.repeat(top, np.diff(np.append(starts, len(weights)))))
    first = at_top[_run_starts(documents[at_top])]
    strongest[documents[first]] = found[first]
    return strongest


def _run_starts(values: np.ndarray) -> np.ndarray:
    """Where each run of equal values begins, as a mask (every value once, in a sorted array)."""
    return np.concatenate(([True], values[1:] != values[:-1]))[:len(values)]


def _slices(texts: Sequence[str]) -> list[tuple[int, int]]:
    """(start, end) ranges of ``texts`` of at most ``MAX_SLICE_CHARS`` characters each (a longer
    text makes a slice of its own)."""
    slices: list[tuple[int, int]] = []
    start = size = 0
    for index, text in enumerate(texts):
        if size and size + len(text) > MAX_SLICE_CHARS:
            slices.append((start, index))
            start, size = index, 0
        size += len(text) + 2
    slices.append((start, len(texts)))
    return slices


def _sigmoid(values: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-np.clip(values, -50.0, 50.0)))


def load_model(directory: Path) -> RiskModel | None:
    """The model in ``directory``, or None where none is shipped. Raises ``DataError`` with
    ``path:line:col`` for a file that is not valid JSON or not a model."""
    path = directory / MODEL_FILE
    if not path.exists():
        return None
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError([DataIssue(path=str(path), line=exc.lineno, col=exc.colno,
                                   message=f"invalid JSON: {exc.msg}")]) from None
    raw_weights = data.pop("weights", None) if isinstance(data, dict) else None
    try:
        head = ModelHead.model_validate(data)
    except ValidationError as exc:
        raise DataError([DataIssue(path=str(path), line=1, col=1,
                                   message=f"{'.'.join(map(str, e['loc']))}: {e['msg']}")
                         for e in exc.errors()]) from None
    try:
        weights = np.array(list(raw_weights.values()), dtype=np.float64)
        if weights.ndim != 2 or weights.shape[1] != 3 or not np.isfinite(weights).all():
            raise ValueError("expected three numbers a feature: crisis, distress, ratio")
    except (AttributeError, TypeError, ValueError) as exc:
        line = text[:text.find('"weights"')].count("\n") + 1 if '"weights"' in text else 1
        raise DataError([DataIssue(path=str(path), line=line, col=1,
                                   message=f"weights: {exc}")]) from None
    return RiskModel([str(feature) for feature in raw_weights], weights, head)
