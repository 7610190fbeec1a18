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
import math
from dataclasses import dataclass
from pathlib import Path

import ahocorasick
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.core.datafile import DataError, DataIssue

MAX_NGRAM = 3
MODEL_FILE = "model.json"


def features(text: str) -> list[str]:
    """The features of a normalised text, every one a substring of ``f" {text} "``: its
    character n-grams (1 to 3) and its English words and word pairs between spaces (" want ",
    " want to "). Training calls this; screening finds the same substrings with one automaton
    pass, so the two can never disagree."""
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


@dataclass(frozen=True, slots=True)
class Score:
    crisis: float  # probability that the message is high or imminent
    distress: float  # probability that it is low or above
    known: tuple[int, ...] = ()  # the learnt features found, for ``RiskModel.strongest``


class RiskModel:
    def __init__(self, features: list[str], weights: np.ndarray, spec: ModelHead) -> None:
        self.thresholds = spec.thresholds
        self.trained_on = spec.trained_on
        self._features = features
        # one row a feature: crisis weight (ratio applied), distress weight, squared ratio
        self._table = np.column_stack([weights[:, :2], weights[:, 2] ** 2])
        self._short_floor = spec.short_floor
        self._bias = spec.bias
        self._automaton = ahocorasick.Automaton()
        for index, feature in enumerate(features):
            self._automaton.add_word(feature, index)
        self._automaton.make_automaton()

    def features_in(self, text: str) -> set[str]:
        """The learnt features of a normalised text, as the automaton finds them."""
        return {self._features[index] for index in self._indices(text)}

    def _indices(self, text: str) -> list[int]:
        return list({index for _, index in self._automaton.iter(f" {text} ")})

    def score(self, text: str) -> Score:
        known = self._indices(text)
        if not known:
            crisis, distress = (_sigmoid(float(b)) for b in self._bias)
            return Score(crisis, distress)
        crisis, distress, squared = self._table.take(known, axis=0).sum(axis=0).tolist()
        crisis = crisis / (math.sqrt(squared + self._short_floor) or 1.0) + self._bias[0]
        distress = distress / math.sqrt(len(known)) + self._bias[1]
        return Score(_sigmoid(crisis), _sigmoid(distress), tuple(known))

    def strongest(self, score: Score) -> str | None:
        """The feature that pushed the crisis head up most, for evidence (asked only of the
        scores that become a hit, so most messages never pay for it)."""
        if not score.known:
            return None
        weights = self._table[list(score.known), 0]
        return self._features[score.known[int(weights.argmax())]]


def _sigmoid(value: float) -> float:
    return 1 / (1 + math.exp(-max(-50.0, min(50.0, value))))


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
