"""Bin counts of a window, updated with one vectorised step per batch: memory stays flat.

A window is a fixed set of count arrays (one per feature plus the predictions), sized by the
reference's bins plus one last slot that counts missing values (None, NaN, an absent field,
a value of the wrong type); a batch adds `np.bincount` of its bin indexes. Nothing of the
rows is kept. Checkpoints written before the missing slot existed hold arrays one shorter:
they do not fit, and the open window they carried restarts empty.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt

from contracts import (
    CategoricalReference,
    ColumnReference,
    FeatureValue,
    NumericReference,
    ReferenceStatistics,
)
from services.monitor.stats import (
    ABSENT,
    ColumnInput,
    ColumnStatistics,
    MissingStatistics,
    benjamini_hochberg,
    many_column_statistics,
    missing_statistics,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

IntArray = npt.NDArray[np.int64]
PREDICTION = "__prediction__"
# A classifier's probability of one class is a column of its own, "probability:<class>" (a
# colon is never part of a feature's name).
PROBABILITY = "probability:"
_SLOW = -2  # a category code that needs a second look  # not a valid feature name in a spec


@dataclass(frozen=True)
class Baseline:
    """A model version's reference statistics, the training rows behind them, holdout error
    (regression) or holdout scores by metric (classification)."""

    reference: ReferenceStatistics
    size: int
    holdout_rmse: float | None = None
    holdout_mae: float | None = None
    holdout_scores: Mapping[str, float] = field(default_factory=dict)
    positive: str | None = None  # a binary classifier's positive class


def probability_column(class_name: str) -> str:
    return PROBABILITY + class_name


def output_columns(names: Iterable[str]) -> list[str]:
    """The model's own columns among `names`: the prediction, then any probability columns."""
    return [n for n in names if n == PREDICTION or n.startswith(PROBABILITY)]


class ColumnBins:
    """Maps live values of one column to the bins of its reference, plus a missing slot.

    Quantile bins fold values beyond the reference's range into the end bins; discrete bins
    (one per value) get two overflow bins of reference share 0, below the first edge and
    above the last, so a value training never saw shows up; categories get a bin of unseen
    categories. `size` counts the value bins; count arrays have one more slot, the last,
    for missing values.
    """

    def __init__(self, reference: ColumnReference) -> None:
        self.ordered = isinstance(reference, NumericReference)
        self.missing_fraction = reference.missing_fraction
        self.boundaries: np.ndarray | None = None
        if isinstance(reference, NumericReference):
            self._numeric(reference)
        else:
            self.binning = "categories"
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
        self.slots = self.size + 1

    def _numeric(self, reference: NumericReference) -> None:
        if len(reference.bin_edges) != len(reference.fractions) + 1:
            raise ValueError(
                f"{len(reference.bin_edges)} bin edges do not bound "
                f"{len(reference.fractions)} reference fractions"
            )
        edges = np.asarray(reference.bin_edges, dtype=float)
        self.binning = reference.binning
        labels = _edge_labels(reference.bin_edges)
        if reference.binning == "discrete":
            self._searched = edges  # below the first edge: 0; above the last: size - 1
            self.fractions = np.asarray([0.0, *reference.fractions, 0.0], dtype=float)
            self.labels = [f"below {edges[0]:g}", *labels, f"above {edges[-1]:g}"]
            self.boundaries = np.concatenate([[edges[0]], edges, [edges[-1]]])
        else:
            self._searched = edges[1:-1]  # outliers go to the end bins
            self.fractions = np.asarray(reference.fractions, dtype=float)
            self.labels = labels
            self.boundaries = edges

    def counts(self, values: Sequence[FeatureValue | float]) -> IntArray:
        """Count of `values` per value bin; missing values are left out."""
        return self.tally(values)[:-1]

    def tally(self, values: Sequence[FeatureValue | float]) -> IntArray:
        """Count of `values` per value bin, then the count of missing values."""
        indexes = self._numeric_indexes(values) if self.ordered else self._category_indexes(values)
        return np.bincount(indexes, minlength=self.slots).astype(np.int64)

    def _numeric_indexes(self, values: Sequence[FeatureValue | float]) -> IntArray:
        try:  # fast path: numbers and None (which numpy turns into NaN)
            numbers = np.asarray(values, dtype=float)
        except (TypeError, ValueError):  # a string in a numeric column: a producer bug
            numbers = np.fromiter((_number(v) for v in values), dtype=float, count=len(values))
        # Half-open bins [a, b); NaN and infinities are missing, as in the reference.
        indexes: IntArray = np.searchsorted(self._searched, numbers, side="right")
        indexes[~np.isfinite(numbers)] = self.size
        return indexes

    def _category_indexes(self, values: Sequence[FeatureValue | float]) -> IntArray:
        lookup = self._categories
        codes = np.asarray([lookup.get(v, _SLOW) for v in values], dtype=np.int64)
        slow = np.flatnonzero(codes == _SLOW)
        if slow.size:  # booleans, numbers, missing values and unseen categories
            unseen = self.size - 1
            for i in slow:
                value = values[int(i)]
                missing = is_missing_category(value)
                codes[i] = self.size if missing else lookup.get(category_key(value), unseen)
        return codes


def reference_bins(reference: ReferenceStatistics) -> dict[str, ColumnBins]:
    """Bins of every feature, the prediction and (a classifier's) each class's probability."""
    bins = {name: ColumnBins(column) for name, column in reference.features.items()}
    bins[PREDICTION] = ColumnBins(reference.prediction)
    for class_name, column in (reference.probabilities or {}).items():
        bins[probability_column(class_name)] = ColumnBins(column)
    return bins


@dataclass
class WindowCounts:
    """Bin counts (then the missing count) of each column of one window so far."""

    bins: dict[str, ColumnBins]
    counts: dict[str, IntArray] = field(default_factory=dict)
    size: int = 0

    @classmethod
    def for_reference(cls, reference: ReferenceStatistics) -> WindowCounts:
        bins = reference_bins(reference)
        return cls(bins=bins, counts={n: np.zeros(b.slots, np.int64) for n, b in bins.items()})

    def add_batch(self, columns: Mapping[str, Sequence[FeatureValue | float]], rows: int) -> None:
        """One vectorised update per column; `columns` maps names to equally long sequences
        (a column left out is missing in every row)."""
        for name, bins in self.bins.items():
            column = columns.get(name)
            if column is None:
                self.counts[name][-1] += rows
            else:
                self.counts[name] += bins.tally(column)
        self.size += rows

    def add(self, other: WindowCounts) -> None:
        """Adds the counts of a window of the same bins (the sequential totals)."""
        for name, counts in other.counts.items():
            self.counts[name] += counts
        self.size += other.size

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
class DriftRule:
    """When a feature drifts: its change is significant (BH-adjusted p < alpha) AND large.

    "Large" is measured by `effect`: "psi" (PSI >= psi_threshold), or "distance": a
    Wasserstein distance of at least wasserstein_threshold reference standard deviations
    (numbers) or a total variation of at least total_variation_threshold (the share of rows
    that changed bin: a category, or a value of a discrete column). The missing rate drifts
    when its test is significant and it moved by at least missing_threshold (absolute).
    """

    effect: Literal["psi", "distance"] = "distance"
    psi_threshold: float = 0.2
    wasserstein_threshold: float = 0.05
    total_variation_threshold: float = 0.05
    missing_threshold: float = 0.05
    alpha: float = 0.01

    def large(self, s: ColumnStatistics) -> bool:
        if self.effect == "psi":
            return s.psi >= self.psi_threshold
        # NaN (no Wasserstein for categories) compares False.
        return (
            s.wasserstein >= self.wasserstein_threshold
            or s.total_variation >= self.total_variation_threshold
        )

    @property
    def threshold(self) -> float:
        """The effect threshold DriftDetected reports: PSI's or the Wasserstein one."""
        return self.psi_threshold if self.effect == "psi" else self.wasserstein_threshold


@dataclass(frozen=True)
class WindowStatistics:
    """`prediction` and `probabilities` (a classifier's, by class) are the model's outputs;
    `output_drifting`: a classifier's outputs drift (its windows drift with them)."""

    features: dict[str, ColumnStatistics]
    prediction: ColumnStatistics | None
    drift_share: float
    probabilities: dict[str, ColumnStatistics] = field(default_factory=dict)
    output_drifting: bool = False

    def outputs(self) -> dict[str, ColumnStatistics]:
        """The output columns by their name in a DriftDetected event."""
        named = {probability_column(c): s for c, s in self.probabilities.items()}
        return ({OUTPUT_PREDICTION: self.prediction} if self.prediction else {}) | named


# How a DriftDetected event names the predicted class's column.
OUTPUT_PREDICTION = "prediction:class"


def window_statistics(
    window: WindowCounts, reference_size: int, rule: DriftRule | None = None
) -> WindowStatistics:
    """Statistics of every feature and output, p-values adjusted (BH) across one family: the
    distribution tests of the features and outputs, and the features' missing-rate tests.

    A feature drifts when its distribution changed both significantly and by a large
    effect (`rule`: KS alone fires on tiny shifts once windows are large, an effect size
    alone on noise when they are small), or when its missing rate did. A feature without
    any value in the window has only its missing-rate test. A classifier's outputs (the
    predicted class, each class's probability) are judged by the same rule; a regressor's
    prediction is reported but not judged (as before classifiers came).
    """
    rule = rule or DriftRule()
    outputs = output_columns(window.bins)
    names = [name for name in window.bins if name not in outputs]
    tested = [n for n in [*names, *outputs] if window.counts[n][:-1].sum() > 0]
    inputs = [_column_input(window, n, reference_size) for n in tested]
    computed = dict(zip(tested, many_column_statistics(inputs), strict=True))
    missing = {n: _missing(window, n, reference_size) for n in names}
    family = [computed[n].p_value for n in computed] + [m.p_value for m in missing.values()]
    adjusted = iter(benjamini_hochberg(family).tolist())
    decided = {n: _decided(s, next(adjusted), rule) for n, s in computed.items()}
    missing = {n: _missing_decided(m, next(adjusted), rule) for n, m in missing.items()}
    features = {
        n: _with_missing(decided.get(n) or _absent(window.bins[n]), missing[n]) for n in names
    }
    share = sum(s.drifting for s in features.values()) / len(features) if features else 0.0
    probabilities = {
        n.removeprefix(PROBABILITY): decided[n] for n in outputs if n != PREDICTION and n in decided
    }
    judged = not window.bins[PREDICTION].ordered or bool(probabilities)
    return WindowStatistics(
        features=features,
        prediction=decided.get(PREDICTION),
        drift_share=share,
        probabilities=probabilities,
        output_drifting=judged and any(decided[n].drifting for n in outputs if n in decided),
    )


@dataclass(frozen=True)
class LabelDrift:
    """The class balance of joined labels against the training labels'."""

    statistics: ColumnStatistics
    shares: dict[str, tuple[float, float]]  # class -> (reference share, window share)


def label_drift(
    reference: CategoricalReference, labels: Sequence[str], reference_size: int, rule: DriftRule
) -> LabelDrift:
    """Chi-squared, PSI and total variation of the labels' classes, decided by `rule` (one
    test: its p-value is its own adjusted one)."""
    bins = ColumnBins(reference)
    counts = bins.counts(labels)
    [statistics] = many_column_statistics([ColumnInput(bins.fractions, counts, reference_size)])
    total = max(int(counts.sum()), 1)
    shares = {
        name: (float(expected), int(count) / total)
        for name, expected, count in zip(bins.labels, bins.fractions, counts, strict=True)
    }
    return LabelDrift(_decided(statistics, statistics.p_value, rule), shares)


def _column_input(window: WindowCounts, name: str, reference_size: int) -> ColumnInput:
    bins = window.bins[name]
    present_size = max(1, round(reference_size * (1.0 - bins.missing_fraction)))
    return ColumnInput(bins.fractions, window.counts[name][:-1], present_size, bins.boundaries)


def _absent(bins: ColumnBins) -> ColumnStatistics:
    if bins.ordered:
        return ABSENT
    return replace(ABSENT, test="chi2")


def _missing(window: WindowCounts, name: str, reference_size: int) -> MissingStatistics:
    bins, counts = window.bins[name], window.counts[name]
    return missing_statistics(
        bins.missing_fraction, int(counts[-1]), int(counts.sum()), reference_size
    )


def _decided(s: ColumnStatistics, adjusted: float, rule: DriftRule) -> ColumnStatistics:
    drifting = rule.large(s) and adjusted < rule.alpha
    return replace(s, p_value_adjusted=adjusted, drifting=drifting)


def _missing_decided(m: MissingStatistics, adjusted: float, rule: DriftRule) -> MissingStatistics:
    moved = abs(m.rate - m.reference_rate) >= rule.missing_threshold
    return replace(m, p_value_adjusted=adjusted, drifting=moved and adjusted < rule.alpha)


def _with_missing(s: ColumnStatistics, missing: MissingStatistics) -> ColumnStatistics:
    return replace(s, missing=missing, drifting=s.drifting or missing.drifting)


def is_missing_category(value: FeatureValue | float | None) -> bool:
    """None, "" (as the trainer reads a missing category) and NaN are missing values."""
    return value is None or value == "" or (isinstance(value, float) and math.isnan(value))


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
