"""``qingxin train screening``: fit the screener's model (``bot/core/risk/model.py``) on the
labelled messages of ``knowledge/risk/training/`` and write ``knowledge/risk/model.json``.

Rules of this module:
- scikit-learn does the fitting (the ``train`` extra); screening itself needs only the JSON.
- The same ``features()`` as screening, binary, one logistic regression a head: ``crisis``
  (high or imminent) and ``distress`` (low or above). The crisis head first scales each feature
  by its naive-Bayes log-count ratio (NBSVM, Wang & Manning 2012): on the held-out sets it
  caught 95% of crisis messages where plain binary features caught 90%, at the same
  cross-validated false-alarm limit. The distress vector is scaled to unit length; the crisis
  vector is divided by ``sqrt(sum of squared ratios + SHORT_FLOOR)``, so a message of two or
  three words cannot score as high as a sentence can ("i dont know" is not a crisis because
  " dont " often is).
- Thresholds come from 5-fold cross-validated scores on the training messages, never from the
  held-out sets: ``high`` is the lowest that keeps benign messages at ``high`` under
  ``HIGH_FALSE_ALARMS``; ``sure`` and ``low`` likewise with their own limits.
- The file records what it was trained on (a SHA-256 a file) and its cross-validated figures,
  so a test can tell when the shipped model is older than its data.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bot.core.risk.lexicon import Level
from bot.core.risk.model import features
from bot.core.risk.normalize import normalize
from bot.risk_tools import read_labelled

HIGH_FALSE_ALARMS = 0.025  # benign messages the model may put at high, cross-validated
SURE_FALSE_ALARMS = 0.005  # benign messages above the score where its high may join rule 5
LOW_FALSE_ALARMS = 0.15  # benign messages it may put at low or above
REGULARISATION = 10.0  # scikit-learn's C
MIN_DOCUMENTS = 3  # a feature must occur in this many messages to be learnt
SHORT_FLOOR = 20.0  # added to a crisis vector's squared length before scaling it


def training_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.yaml"))


def fingerprint(paths: Sequence[Path]) -> dict[str, str]:
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in paths}


def train(paths: Sequence[Path]) -> dict[str, Any]:
    """The model file's content, trained on the labelled messages of ``paths``."""
    return fit(paths).content


@dataclass(frozen=True)
class Fitted:
    content: dict[str, Any]  # the model file's content
    texts: list[str]  # the training messages, normalised
    # the fitted heads' probabilities on those messages, as scikit-learn computes them: the
    # screener's own arithmetic (``RiskModel.score_many``) must give the same (a test checks)
    crisis: np.ndarray
    distress: np.ndarray


def fit(paths: Sequence[Path]) -> Fitted:
    """``train``, keeping what a test needs to hold the screener's scores to training's."""
    from scipy.sparse import csr_matrix, diags
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.preprocessing import normalize as unit_length

    rows = [row for path in paths for row in read_labelled(path)]
    texts = [normalize(str(row["text"])).text for row in rows]
    levels = np.array([int(Level.parse(str(row["level"]))) for row in rows])
    vectorizer = CountVectorizer(analyzer=features, binary=True, min_df=MIN_DOCUMENTS,
                                 dtype=np.float64)
    counts: csr_matrix = vectorizer.fit_transform(texts)
    targets = {"crisis": levels >= Level.HIGH, "distress": levels >= Level.LOW}
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)

    def head() -> LogisticRegression:
        return LogisticRegression(C=REGULARISATION, class_weight="balanced", max_iter=5000)

    def weighted(ratio: np.ndarray) -> csr_matrix:
        scaled = counts.multiply(ratio).tocsr()
        length = np.sqrt(np.asarray(scaled.multiply(scaled).sum(axis=1)).ravel() + SHORT_FLOOR)
        return diags(1 / length) @ scaled

    # the ratios are learnt inside each fold, so the held-back fold's labels never shape them
    scores = {"crisis": np.zeros(len(rows))}
    for train_rows, test_rows in folds.split(counts, targets["crisis"]):
        fold = weighted(_log_count_ratio(counts[train_rows], targets["crisis"][train_rows]))
        fitted = head().fit(fold[train_rows], targets["crisis"][train_rows])
        scores["crisis"][test_rows] = fitted.predict_proba(fold[test_rows])[:, 1]
    ratio = _log_count_ratio(counts, targets["crisis"])
    crisis_features = weighted(ratio)
    heads = {"crisis": head().fit(crisis_features, targets["crisis"])}
    binary = unit_length(counts)
    scores["distress"] = cross_val_predict(head(), binary, targets["distress"], cv=folds,
                                           method="predict_proba")[:, 1]
    heads["distress"] = head().fit(binary, targets["distress"])
    benign = levels == Level.NONE
    high = _threshold(scores["crisis"], benign, HIGH_FALSE_ALARMS)
    sure = max(_threshold(scores["crisis"], benign, SURE_FALSE_ALARMS), high)
    low = _threshold(scores["distress"], benign, LOW_FALSE_ALARMS)
    crisis = levels >= Level.HIGH
    distress = (levels == Level.LOW) | (levels == Level.MEDIUM)
    names = vectorizer.get_feature_names_out()
    weights = np.column_stack([heads["crisis"].coef_[0] * ratio, heads["distress"].coef_[0],
                               ratio])
    content = {
        "version": 2,
        "heads": ["crisis", "distress"],
        "bias": [round(float(heads[name].intercept_[0]), 6) for name in ("crisis", "distress")],
        "thresholds": {"high": high, "sure": sure, "low": low},
        "short_floor": SHORT_FLOOR,
        "trained_on": {
            "messages": len(rows), "features": len(names), "files": fingerprint(paths),
            "cross_validated": {
                "crisis_recall_at_high": _share(scores["crisis"][crisis] >= high),
                "benign_at_high": _share(scores["crisis"][benign] >= high),
                "distress_at_low": _share((scores["distress"][distress] >= low)
                                          | (scores["crisis"][distress] >= low)),
            }},
        "weights": {str(name): [round(float(number), 5) for number in row]
                    for name, row in zip(names, weights, strict=True)},
    }
    return Fitted(content, texts, heads["crisis"].predict_proba(crisis_features)[:, 1],
                  heads["distress"].predict_proba(binary)[:, 1])


def _log_count_ratio(counts: Any, target: np.ndarray) -> np.ndarray:
    """log(P(feature | crisis) / P(feature | not crisis)) with add-one smoothing, a feature."""
    present = np.asarray(counts[target].sum(axis=0)).ravel() + 1.0
    absent = np.asarray(counts[~target].sum(axis=0)).ravel() + 1.0
    return np.log((present / present.sum()) / (absent / absent.sum()))


def _threshold(scores: np.ndarray, benign: np.ndarray, false_alarms: float) -> float:
    """The lowest threshold, in hundredths, that keeps benign scores at or above it under
    ``false_alarms``."""
    for hundredths in range(5, 100):
        threshold = hundredths / 100
        if _share(scores[benign] >= threshold) <= false_alarms:
            return threshold
    return 0.99


def _share(flags: np.ndarray) -> float:
    return round(float(flags.mean()), 4) if flags.size else 0.0


def write_model(content: dict[str, Any], path: Path) -> None:
    """JSON with one feature a line, so a retrained model reads as a diff: its crisis weight
    (already multiplied by its ratio), its distress weight and its naive-Bayes ratio."""
    head = {key: value for key, value in content.items() if key != "weights"}
    lines = [json.dumps(head, ensure_ascii=False, indent=1)[:-2] + ',\n "weights": {']
    items = [f"  {json.dumps(name, ensure_ascii=False)}: {json.dumps(pair)}"
             for name, pair in content["weights"].items()]
    lines.append(",\n".join(items))
    lines.append(" }\n}\n")
    path.write_text("\n".join(lines), encoding="utf-8")
