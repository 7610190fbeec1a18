"""``qingxin train screening``: fit the screener's model (``bot/core/risk/model.py``) on the
labelled messages of ``knowledge/risk/training/`` and write ``knowledge/risk/model.json``.

Rules of this module:
- scikit-learn does the fitting (the ``train`` extra); screening itself needs only the JSON.
- The same ``features()`` as screening, binary and scaled to unit length, one logistic
  regression a head: ``crisis`` (high or imminent) and ``distress`` (low or above).
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
from pathlib import Path
from typing import Any

import numpy as np

from bot.core.risk.lexicon import Level
from bot.core.risk.model import features
from bot.core.risk.normalize import normalize
from bot.risk_tools import read_labelled

HIGH_FALSE_ALARMS = 0.02  # benign messages the model may put at high, cross-validated
SURE_FALSE_ALARMS = 0.005  # benign messages above the score where its high may join rule 5
LOW_FALSE_ALARMS = 0.15  # benign messages it may put at low or above
REGULARISATION = 10.0  # scikit-learn's C
MIN_DOCUMENTS = 2  # a feature must occur in this many messages to be learnt


def training_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.yaml"))


def fingerprint(paths: Sequence[Path]) -> dict[str, str]:
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in paths}


def train(paths: Sequence[Path]) -> dict[str, Any]:
    """The model file's content, trained on the labelled messages of ``paths``."""
    from scipy.sparse import csr_matrix
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.preprocessing import normalize as unit_length

    rows = [row for path in paths for row in read_labelled(path)]
    texts = [normalize(str(row["text"])).text for row in rows]
    levels = np.array([int(Level.parse(str(row["level"]))) for row in rows])
    vectorizer = CountVectorizer(analyzer=features, binary=True, min_df=MIN_DOCUMENTS,
                                 dtype=np.float64)
    matrix: csr_matrix = unit_length(vectorizer.fit_transform(texts))
    targets = {"crisis": levels >= Level.HIGH, "distress": levels >= Level.LOW}
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    heads: dict[str, LogisticRegression] = {}
    scores: dict[str, np.ndarray] = {}
    for name, target in targets.items():
        model = LogisticRegression(C=REGULARISATION, class_weight="balanced", max_iter=5000)
        scores[name] = cross_val_predict(model, matrix, target, cv=folds,
                                         method="predict_proba")[:, 1]
        heads[name] = model.fit(matrix, target)
    benign = levels == Level.NONE
    high = _threshold(scores["crisis"], benign, HIGH_FALSE_ALARMS)
    sure = max(_threshold(scores["crisis"], benign, SURE_FALSE_ALARMS), high)
    low = _threshold(scores["distress"], benign, LOW_FALSE_ALARMS)
    crisis = levels >= Level.HIGH
    distress = (levels == Level.LOW) | (levels == Level.MEDIUM)
    names = vectorizer.get_feature_names_out()
    weights = np.column_stack([heads["crisis"].coef_[0], heads["distress"].coef_[0]])
    return {
        "version": 1,
        "heads": ["crisis", "distress"],
        "bias": [round(float(heads[name].intercept_[0]), 6) for name in ("crisis", "distress")],
        "thresholds": {"high": high, "sure": sure, "low": low},
        "trained_on": {
            "messages": len(rows), "features": len(names), "files": fingerprint(paths),
            "cross_validated": {
                "crisis_recall_at_high": _share(scores["crisis"][crisis] >= high),
                "benign_at_high": _share(scores["crisis"][benign] >= high),
                "distress_at_low": _share((scores["distress"][distress] >= low)
                                          | (scores["crisis"][distress] >= low)),
            }},
        "weights": {str(name): [round(float(a), 5), round(float(b), 5)]
                    for name, (a, b) in zip(names, weights, strict=True)},
    }


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
    """JSON with one feature a line, so a retrained model reads as a diff."""
    head = {key: value for key, value in content.items() if key != "weights"}
    lines = [json.dumps(head, ensure_ascii=False, indent=1)[:-2] + ',\n "weights": {']
    items = [f"  {json.dumps(name, ensure_ascii=False)}: {json.dumps(pair)}"
             for name, pair in content["weights"].items()]
    lines.append(",\n".join(items))
    lines.append(" }\n}\n")
    path.write_text("\n".join(lines), encoding="utf-8")
