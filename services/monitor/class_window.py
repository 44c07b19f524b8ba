"""The latest joined labels of one classifier (model, version, role), and their scores.

A sliding window of the last `size` joined rows, not a tumbling one as for regression error:
ROC AUC and calibration need the rows themselves, not running sums, and a sliding window moves
its gauges with every label, so an alert sees a fall within `size` labels instead of at the
end of the next window. The rows sit in fixed arrays (a ring): memory is `size` x (classes + 2)
numbers whatever the traffic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from services.monitor import class_scores as scores

if TYPE_CHECKING:
    from collections.abc import Mapping

    from services.monitor.class_scores import FloatArray, IntArray, ReliabilityBin


@dataclass(frozen=True)
class ClassScores:
    """Scores of the window's rows; roc_auc is NaN unless binary with both classes present."""

    count: int
    complete: bool
    accuracy: float
    log_loss: float
    macro_f1: float
    roc_auc: float
    ece: float
    recall: dict[str, float]
    precision: dict[str, float]
    reliability: list[ReliabilityBin]
    # Binary: the calibration of this class's probability; multiclass: of the top class.
    calibrated: str

    def as_dict(self) -> dict[str, float]:
        """The window-wide scores by metric name (the gauges' `metric` label)."""
        values = {
            "accuracy": self.accuracy,
            "log_loss": self.log_loss,
            "macro_f1": self.macro_f1,
            "ece": self.ece,
        }
        if not math.isnan(self.roc_auc):
            values["roc_auc"] = self.roc_auc
        return values


@dataclass
class ClassWindow:
    """The last `size` rows: label, predicted class and every class's probability."""

    classes: tuple[str, ...]
    size: int
    positive: str | None = None  # binary: the class ROC AUC and calibration look at
    joined: int = 0  # rows ever added (the ring's write position is joined % size)
    labels: IntArray = field(init=False)
    predicted: IntArray = field(init=False)
    probabilities: FloatArray = field(init=False)

    def __post_init__(self) -> None:
        self.labels = np.zeros(self.size, np.int64)
        self.predicted = np.zeros(self.size, np.int64)
        self.probabilities = np.zeros((self.size, len(self.classes)), np.float64)
        self._index = {name: i for i, name in enumerate(self.classes)}

    @property
    def count(self) -> int:
        return min(self.joined, self.size)

    @property
    def positive_index(self) -> int:
        """Binary: the positive class (the model card's, else the last class)."""
        return self._index.get(self.positive or "", len(self.classes) - 1)

    def add(self, label: str, predicted: str, probabilities: Mapping[str, float]) -> bool:
        """Adds one joined row; False (nothing added) for a class the model does not know."""
        label_index, predicted_index = self._index.get(label), self._index.get(predicted)
        if label_index is None or predicted_index is None:
            return False
        slot = self.joined % self.size
        self.labels[slot] = label_index
        self.predicted[slot] = predicted_index
        self.probabilities[slot] = [probabilities.get(c, 0.0) for c in self.classes]
        self.joined += 1
        return True

    def rows(self) -> tuple[IntArray, IntArray, FloatArray]:
        """Labels, predicted classes and probabilities of the window, oldest first."""
        count = self.count
        order = (np.arange(count) + (self.joined - count)) % self.size
        return self.labels[order], self.predicted[order], self.probabilities[order]

    def restore(
        self, joined: int, labels: IntArray, predicted: IntArray, probabilities: FloatArray
    ) -> None:
        """Puts back the rows `rows()` gave (oldest first) of a window that joined `joined`."""
        count = min(joined, self.size)
        if not len(labels) == len(predicted) == len(probabilities) == count:
            raise ValueError(f"{len(labels)} rows do not fill a window of {count}")
        slots = (np.arange(count) + (joined - count)) % self.size
        self.labels[slots] = labels
        self.predicted[slots] = predicted
        self.probabilities[slots] = probabilities
        self.joined = joined

    def label_names(self) -> list[str]:
        return [self.classes[i] for i in self.rows()[0]]

    def scores(self) -> ClassScores | None:
        if self.count == 0:
            return None
        labels, predicted, probabilities = self.rows()
        matrix = scores.confusion(labels, predicted, len(self.classes))
        recall, precision = scores.recall_and_precision(matrix)
        confidence, hit, calibrated = self._calibration_view(labels, probabilities)
        bins = scores.reliability(confidence, hit)
        return ClassScores(
            count=self.count,
            complete=self.joined >= self.size,
            accuracy=scores.accuracy(labels, predicted),
            log_loss=scores.log_loss(labels, probabilities),
            macro_f1=scores.macro_f1(matrix),
            roc_auc=self._roc_auc(labels, probabilities),
            ece=scores.expected_calibration_error(bins),
            recall=dict(zip(self.classes, recall.tolist(), strict=True)),
            precision=dict(zip(self.classes, precision.tolist(), strict=True)),
            reliability=bins,
            calibrated=calibrated,
        )

    def _roc_auc(self, labels: IntArray, probabilities: FloatArray) -> float:
        if len(self.classes) != 2:
            return math.nan
        positive = self.positive_index
        return scores.roc_auc(labels == positive, probabilities[:, positive])

    def _calibration_view(
        self, labels: IntArray, probabilities: FloatArray
    ) -> tuple[FloatArray, np.ndarray, str]:
        """Binary: the positive class's probability and whether the label is it; multiclass:
        the top probability and whether the top class is the label."""
        if len(self.classes) == 2:
            positive = self.positive_index
            return probabilities[:, positive], labels == positive, self.classes[positive]
        top = np.argmax(probabilities, axis=1)
        return probabilities.max(axis=1), top == labels, "top class"
