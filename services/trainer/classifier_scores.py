"""A classifier's decisions and scores: log loss, accuracy, macro F1 and (binary) ROC AUC."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score

if TYPE_CHECKING:
    from collections.abc import Sequence

    from contracts import ClassificationTarget
    from contracts.models import ScoreMetric

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
StrArray = np.ndarray[Any, np.dtype[np.object_]]


class ClassProbabilities:
    """Probabilities over every class the scores know: the spec's classes first (a class the
    model never saw has probability 0), in [0, 1] and rows summing to 1: float32 ONNX ones
    drift by 1e-7 (a forest's 1.0000001, a sum of 0.9999999), which sklearn's log loss
    refuses."""

    def __init__(
        self, probabilities: FloatArray, classes: Sequence[str], target: ClassificationTarget
    ) -> None:
        self.classes = tuple(target.classes) + tuple(c for c in classes if c not in target.classes)
        self.target = target
        columns = np.zeros((len(probabilities), len(self.classes)), dtype=np.float64)
        for source, name in enumerate(classes):
            columns[:, self.classes.index(name)] = probabilities[:, source]
        columns = np.clip(columns, 0.0, 1.0)
        sums = columns.sum(axis=1, keepdims=True)
        self.values: FloatArray = columns / np.where(sums > 0, sums, 1.0)

    def of(self, name: str) -> FloatArray:
        return self.values[:, self.classes.index(name)]

    def decide(self) -> StrArray:
        """The predicted class of each row: for a binary target the positive class when its
        probability reaches the threshold (as the predictor decides), else the most probable."""
        target = self.target
        if target.is_binary:
            negative = next(c for c in target.classes if c != target.positive)
            chosen = np.where(
                self.of(target.positive) >= target.threshold, target.positive, negative
            )
            return np.asarray(chosen, dtype=object)
        decided: StrArray = np.asarray(self.classes, dtype=object)[self.values.argmax(axis=1)]
        return decided


def classification_scores(truth: StrArray, probabilities: ClassProbabilities) -> dict[str, Any]:
    """log_loss, accuracy, macro_f1 and roc_auc (None unless binary with both classes in
    `truth`) of the probabilities against the true classes."""
    known = set(probabilities.classes)
    unknown = sorted({str(t) for t in truth} - known)
    if unknown:
        raise ValueError(f"true classes {unknown} are not among {list(probabilities.classes)}")
    decided = probabilities.decide()
    return {
        "log_loss": _log_loss(truth, probabilities),
        "accuracy": float(accuracy_score(truth, decided)),
        "macro_f1": float(f1_score(truth, decided, average="macro", zero_division=0)),
        "roc_auc": _roc_auc(truth, probabilities),
    }


def _log_loss(truth: StrArray, probabilities: ClassProbabilities) -> float:
    """sklearn's log loss, which wants the columns in the classes' sorted order (a spec may
    list them in any: "stay", "leave")."""
    order = sorted(range(len(probabilities.classes)), key=lambda i: probabilities.classes[i])
    labels = [probabilities.classes[i] for i in order]
    return float(log_loss(truth, probabilities.values[:, order], labels=labels))


def score(metric: ScoreMetric, truth: StrArray, probabilities: ClassProbabilities) -> float | None:
    """One score by name; None when it cannot be computed on these rows (or is not finite)."""
    value = classification_scores(truth, probabilities).get(metric)
    return value if value is not None and math.isfinite(value) else None


def _roc_auc(truth: StrArray, probabilities: ClassProbabilities) -> float | None:
    target = probabilities.target
    positives = truth == target.positive
    if not target.is_binary or positives.all() or not positives.any():
        return None
    return float(roc_auc_score(positives, probabilities.of(target.positive)))
