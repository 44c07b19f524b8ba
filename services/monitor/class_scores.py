"""Classification scores of joined labels, on arrays, as scikit-learn defines them.

Rows are class indexes (the label and the predicted class) and one probability per class.
Nothing here imports scikit-learn: the monitor stays light, and the unit tests check every
figure against scikit-learn on the same rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
CALIBRATION_BINS = 10


@dataclass(frozen=True)
class ReliabilityBin:
    """One equal-width bin of predicted probability: its rows, mean prediction, observed rate."""

    lower: float
    upper: float
    count: int
    predicted: float
    observed: float


def accuracy(labels: IntArray, predicted: IntArray) -> float:
    return float(np.mean(labels == predicted))


def log_loss(labels: IntArray, probabilities: FloatArray) -> float:
    """Mean of -ln p(true class), p clipped to [eps, 1 - eps] as scikit-learn clips it."""
    eps = float(np.finfo(np.float64).eps)
    chosen = probabilities[np.arange(labels.size), labels]
    return float(-np.mean(np.log(np.clip(chosen, eps, 1 - eps))))


def confusion(labels: IntArray, predicted: IntArray, classes: int) -> IntArray:
    """Rows: true class; columns: predicted class."""
    cells = np.bincount(labels * classes + predicted, minlength=classes * classes)
    return cells.reshape(classes, classes).astype(np.int64)


def recall_and_precision(matrix: IntArray) -> tuple[FloatArray, FloatArray]:
    """Per class; NaN where undefined (no row of the class, or no prediction of it)."""
    hits = np.diag(matrix).astype(float)
    return _ratio(hits, matrix.sum(axis=1)), _ratio(hits, matrix.sum(axis=0))


def macro_f1(matrix: IntArray) -> float:
    """Mean F1 over the classes that occur as label or prediction (scikit-learn's default)."""
    hits = np.diag(matrix).astype(float)
    support = matrix.sum(axis=1) + matrix.sum(axis=0)  # 2 tp + fp + fn
    present = support > 0
    return float(np.mean(2 * hits[present] / support[present]))


def roc_auc(positive: npt.NDArray[np.bool_], scores: FloatArray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties count half); NaN with one class only."""
    positives = int(positive.sum())
    negatives = positive.size - positives
    if positives == 0 or negatives == 0:
        return math.nan
    ranks = average_ranks(scores)
    rank_sum = float(ranks[positive].sum())
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def average_ranks(values: FloatArray) -> FloatArray:
    """1-based ranks, tied values sharing the mean of their ranks (scipy's rankdata)."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    starts_group = np.concatenate([[True], ordered[1:] != ordered[:-1]])
    group = np.cumsum(starts_group) - 1
    starts = np.flatnonzero(starts_group)
    ends = np.append(starts[1:], values.size)
    ranks = np.empty(values.size)
    ranks[order] = ((starts + 1 + ends) / 2)[group]
    return ranks


def reliability(
    confidence: FloatArray, hit: npt.NDArray[np.bool_], bins: int = CALIBRATION_BINS
) -> list[ReliabilityBin]:
    """Equal-width bins of `confidence` ([0, 0.1), ..., [0.9, 1] for 10): mean confidence and
    the observed rate of `hit` in each non-empty bin."""
    index = np.minimum((np.clip(confidence, 0.0, 1.0) * bins).astype(np.int64), bins - 1)
    counts = np.bincount(index, minlength=bins)
    confidence_sums = np.bincount(index, weights=confidence, minlength=bins)
    hit_sums = np.bincount(index, weights=hit.astype(float), minlength=bins)
    return [
        ReliabilityBin(
            lower=b / bins,
            upper=(b + 1) / bins,
            count=int(counts[b]),
            predicted=float(confidence_sums[b] / counts[b]),
            observed=float(hit_sums[b] / counts[b]),
        )
        for b in range(bins)
        if counts[b] > 0
    ]


def expected_calibration_error(bins: list[ReliabilityBin]) -> float:
    """Sum over bins of (share of rows) x |observed rate - mean confidence|."""
    total = sum(b.count for b in bins)
    if total == 0:
        return math.nan
    return sum(b.count / total * abs(b.observed - b.predicted) for b in bins)


def _ratio(numerator: FloatArray, denominator: IntArray) -> FloatArray:
    result = np.full(numerator.shape, math.nan)
    np.divide(numerator, denominator, out=result, where=denominator > 0)
    return result
