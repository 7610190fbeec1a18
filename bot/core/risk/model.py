"""A learned second opinion for the screener: logistic regression over character n-grams and
English words of the normalised text, shipped as ``knowledge/risk/model.json``.

Why: the lexicon finds what it lists, but teens describe danger in endless indirect ways
(我已经写好给爸妈的信了, "I won't be a problem much longer"). The model, trained by
``qingxin train screening`` on the labelled messages of ``knowledge/risk/training/``, reads the
whole message. Rules of its use (see ``screener.py``):
- it can raise a level to ``low``, ``medium`` or ``high``, never to ``imminent`` on its own and
  never lower anything the lexicon found; above its ``sure`` threshold its ``high`` counts like a
  lexicon term in "a method and a time" (吞了半瓶药 + 刚才);
- it has two heads: ``crisis`` (high or imminent) and ``distress`` (low or above); the
  thresholds were chosen on cross-validated scores when it was trained.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.core.datafile import DataError, DataIssue

MAX_NGRAM = 3
MODEL_FILE = "model.json"


def features(text: str) -> list[str]:
    """The features of a normalised text: its character n-grams (1 to 3, with the text's edges
    marked by spaces) and, for English, its words and word pairs. Training and screening share
    this function, so they can never disagree."""
    padded = f" {text} "
    grams = [padded[i:i + n] for n in range(1, MAX_NGRAM + 1) for i in range(len(padded) - n + 1)]
    if text.isascii() or any("a" <= c <= "z" for c in text):
        words = [w for w in text.split() if w.isascii()]
        grams += ["w:" + w for w in words]
        grams += [f"b:{a} {b}" for a, b in zip(words, words[1:], strict=False)]
    return grams


class Thresholds(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    high: float = Field(gt=0, lt=1)  # crisis head: high
    sure: float = Field(gt=0, lt=1)  # crisis head: sure enough to make a method and a time a plan
    medium: float = Field(gt=0, lt=1)  # crisis head: medium
    low: float = Field(gt=0, lt=1)  # distress head: low


class ModelFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    version: int = Field(ge=1, le=1)
    heads: tuple[str, str]
    bias: tuple[float, float]
    thresholds: Thresholds
    weights: dict[str, tuple[float, float]]
    trained_on: dict[str, object]


@dataclass(frozen=True, slots=True)
class Score:
    crisis: float  # probability that the message is high or imminent
    distress: float  # probability that it is low or above
    strongest: str | None  # the feature that pushed the crisis head up most, for evidence


class RiskModel:
    def __init__(self, spec: ModelFile) -> None:
        self.thresholds = spec.thresholds
        self.trained_on = spec.trained_on
        self._index = {feature: i for i, feature in enumerate(spec.weights)}
        self._features = list(spec.weights)
        self._weights = np.array(list(spec.weights.values()), dtype=np.float64).reshape(-1, 2)
        self._bias = np.array(spec.bias, dtype=np.float64)

    def score(self, text: str) -> Score:
        index = self._index
        known = [index[g] for g in set(features(text)) if g in index]
        if not known:
            crisis, distress = (1 / (1 + math.exp(-b)) for b in self._bias)
            return Score(crisis, distress, None)
        rows = self._weights[known]
        logits = rows.sum(axis=0) / math.sqrt(len(known)) + self._bias
        crisis, distress = (1 / (1 + math.exp(-float(v))) for v in logits)
        return Score(crisis, distress, self._features[known[int(rows[:, 0].argmax())]])


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
    try:
        return RiskModel(ModelFile.model_validate(data))
    except ValidationError as exc:
        raise DataError([DataIssue(path=str(path), line=1, col=1,
                                   message=f"{'.'.join(map(str, e['loc']))}: {e['msg']}")
                         for e in exc.errors()]) from None
