"""Bin counts of a window, updated with one vectorised step per batch: memory stays flat.

A window is a fixed set of count arrays (one per feature plus the predictions), sized by the
reference's bins; a batch adds `np.bincount` of its bin indexes. Nothing of the rows is kept.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from contracts import (
    ColumnReference,
    FeatureValue,
    NumericReference,
    ReferenceStatistics,
)
from services.monitor.stats import ColumnStatistics, benjamini_hochberg, many_column_statistics

IntArray = npt.NDArray[np.int64]
PREDICTION = "__prediction__"
_SLOW = -2  # a category code that needs a second look  # not a valid feature name in a spec


@dataclass(frozen=True)
class Baseline:
    """A model version's reference statistics, the training rows behind them, holdout error."""

    reference: ReferenceStatistics
    size: int
    holdout_rmse: float | None = None
    holdout_mae: float | None = None


class ColumnBins:
    """Maps live values of one column to the bins of its reference."""

    def __init__(self, reference: ColumnReference) -> None:
        self.ordered = isinstance(reference, NumericReference)
        if isinstance(reference, NumericReference):
            if len(reference.bin_edges) != len(reference.fractions) + 1:
                raise ValueError(
                    f"{len(reference.bin_edges)} bin edges do not bound "
                    f"{len(reference.fractions)} reference fractions"
                )
            self._interior = np.asarray(reference.bin_edges[1:-1], dtype=float)
            self.fractions = np.asarray(reference.fractions, dtype=float)
            self.labels = _edge_labels(reference.bin_edges)
        else:
            self._categories: dict[object, int] = {
                c: i for i, c in enumerate(reference.frequencies)
            }
            # Booleans are spelled "true"/"false" in a reference; found in one lookup.
            for flag, spelling in ((True, "true"), (False, "false")):
                if spelling in self._categories:
                    self._categories[flag] = self._categories[spelling]
            # The last bin holds categories the reference never saw.
            self.fractions = np.asarray([*reference.frequencies.values(), 0.0], dtype=float)
            self.labels = [*reference.frequencies, "(unseen)"]
        self.size = len(self.fractions)

    def counts(self, values: Sequence[FeatureValue | float]) -> IntArray:
        """Count of `values` per bin; missing values (None, NaN, wrong type) are left out."""
        indexes = self._numeric_indexes(values) if self.ordered else self._category_indexes(values)
        return np.bincount(indexes, minlength=self.size).astype(np.int64)

    def _numeric_indexes(self, values: Sequence[FeatureValue | float]) -> IntArray:
        try:  # fast path: numbers and None (which numpy turns into NaN)
            numbers = np.asarray(values, dtype=float)
        except (TypeError, ValueError):  # a string in a numeric column: a producer bug
            numbers = np.fromiter((_number(v) for v in values), dtype=float, count=len(values))
        numbers = numbers[np.isfinite(numbers)]
        # Half-open bins [a, b) with a closed last bin; outliers go to the end bins.
        indexes: IntArray = np.searchsorted(self._interior, numbers, side="right")
        return indexes

    def _category_indexes(self, values: Sequence[FeatureValue | float]) -> IntArray:
        lookup = self._categories
        codes = np.asarray([lookup.get(v, _SLOW) for v in values], dtype=np.int64)
        slow = np.flatnonzero(codes == _SLOW)
        if slow.size:  # booleans, numbers, None and unseen categories
            unseen = self.size - 1
            for i in slow:
                value = values[int(i)]
                code = -1 if value is None else lookup.get(category_key(value), unseen)
                codes[i] = code
        indexes: IntArray = codes[codes >= 0]
        return indexes


@dataclass
class WindowCounts:
    """Bin counts of the predictions of one window so far."""

    bins: dict[str, ColumnBins]
    counts: dict[str, IntArray] = field(default_factory=dict)
    size: int = 0

    @classmethod
    def for_reference(cls, reference: ReferenceStatistics) -> WindowCounts:
        bins = {name: ColumnBins(column) for name, column in reference.features.items()}
        bins[PREDICTION] = ColumnBins(reference.prediction)
        return cls(bins=bins, counts={n: np.zeros(b.size, np.int64) for n, b in bins.items()})

    def add_batch(self, columns: Mapping[str, Sequence[FeatureValue | float]], rows: int) -> None:
        """One vectorised update per column; `columns` maps names to equally long sequences."""
        for name, bins in self.bins.items():
            column = columns.get(name)
            if column is not None:
                self.counts[name] += bins.counts(column)
        self.size += rows

    def load(self, size: int, counts: Mapping[str, Sequence[int]]) -> bool:
        """Takes checkpointed counts in if they fit these bins; False (kept empty) if not."""
        fits = counts.keys() == self.counts.keys() and all(
            len(counts[name]) == len(column) for name, column in self.counts.items()
        )
        if fits:
            self.counts = {name: np.asarray(counts[name], dtype=np.int64) for name in self.counts}
            self.size = size
        return fits

    def reset(self) -> None:
        for counts in self.counts.values():
            counts[:] = 0
        self.size = 0

    def snapshot(self) -> dict[str, IntArray]:
        return {name: counts.copy() for name, counts in self.counts.items()}


@dataclass(frozen=True)
class WindowStatistics:
    features: dict[str, ColumnStatistics]
    prediction: ColumnStatistics | None
    drift_share: float


def window_statistics(
    window: WindowCounts,
    reference_size: int,
    *,
    psi_threshold: float,
    alpha: float,
) -> WindowStatistics:
    """Statistics of every feature with values, p-values adjusted across features (BH).

    A feature drifts when its change is both large (PSI >= threshold) and significant
    (adjusted p < alpha): KS alone fires on tiny shifts once windows are large, PSI alone
    on noise when they are small.
    """
    names = [name for name in window.bins if name != PREDICTION and window.counts[name].sum() > 0]
    with_prediction = window.counts[PREDICTION].sum() > 0
    columns = [(window.bins[n].fractions, window.counts[n], window.bins[n].ordered) for n in names]
    if with_prediction:
        bins = window.bins[PREDICTION]
        columns.append((bins.fractions, window.counts[PREDICTION], True))
    computed = many_column_statistics(columns, reference_size)
    raw = dict(zip(names, computed, strict=False))
    adjusted = benjamini_hochberg([s.p_value for s in raw.values()])
    features = {
        name: _decided(s, float(p), psi_threshold, alpha)
        for (name, s), p in zip(raw.items(), adjusted, strict=True)
    }
    prediction = None
    if with_prediction:
        s = computed[-1]
        prediction = _decided(s, s.p_value, psi_threshold, alpha)
    share = sum(s.drifting for s in features.values()) / len(features) if features else 0.0
    return WindowStatistics(features=features, prediction=prediction, drift_share=share)


def _decided(
    s: ColumnStatistics, adjusted: float, psi_threshold: float, alpha: float
) -> ColumnStatistics:
    drifting = s.psi >= psi_threshold and adjusted < alpha
    return ColumnStatistics(
        psi=s.psi,
        js_distance=s.js_distance,
        test=s.test,
        test_statistic=s.test_statistic,
        p_value=s.p_value,
        p_value_adjusted=adjusted,
        drifting=drifting,
    )


def category_key(value: FeatureValue | float) -> str:
    """How a live value is spelled as a reference category (booleans as JSON spells them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _number(value: FeatureValue | float) -> float:
    # Strings in a numeric column are a producer bug; skip them rather than fail the window.
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return math.nan


def _edge_labels(edges: Sequence[float]) -> list[str]:
    return [f"{a:g} to {b:g}" for a, b in itertools.pairwise(edges)]
