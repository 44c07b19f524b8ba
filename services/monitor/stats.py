"""Drift statistics of a window's bin counts against a reference's bin fractions.

Every statistic works on counts per bin, never on raw rows, so a window costs the same
memory whatever its traffic. Numeric features are binned by the reference's quantile edges,
categorical ones by the reference's categories plus one bucket of unseen categories.

KS is therefore the *binned* two-sample statistic: the largest gap between the two CDFs at
the reference's bin edges. It equals scipy's `ks_2samp` on the bin indexes of the same
samples and is never larger than the KS statistic of the raw values (a shift that stays
inside one bin is invisible). The reference is a sample of `reference_size` training rows,
so both KS and chi-squared are two-sample tests: a small reference makes them cautious.

Chi-squared pools categories whose expected count is under MIN_EXPECTED into one bucket
(Cochran's rule), so a rare category cannot fire the test on a handful of rows.

Effect sizes in units a user can set a threshold in: PSI; for ordered bins the Wasserstein
distance divided by the reference's spread (in standard deviations of a normal: a mean
shift of 0.1 sigma reads 0.1); for categories the total variation distance (the share of
rows that would have to change category).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from collections.abc import Sequence

# Stands in for an empty bin on either side, so PSI stays finite.
EPSILON = 1e-4
# Chi-squared cells expected to hold fewer rows than this are pooled (Cochran's rule).
MIN_EXPECTED = 5.0

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class MissingStatistics:
    """The share of rows without a value, in a window and in the reference, and its test."""

    rate: float
    reference_rate: float
    test_statistic: float
    p_value: float
    p_value_adjusted: float = math.nan
    drifting: bool = False

    def as_dict(self) -> dict[str, float]:
        return {
            "missing_rate": self.rate,
            "missing_reference_rate": self.reference_rate,
            "missing_chi2": self.test_statistic,
            "missing_p_value": self.p_value,
            "missing_p_value_adjusted": self.p_value_adjusted,
            "missing_drifting": float(self.drifting),
        }


@dataclass(frozen=True)
class ColumnStatistics:
    """One feature (or the predictions) in one window; `test` names KS or chi-squared.

    `wasserstein` (relative to the reference's spread; NaN for categories) and
    `total_variation` are effect sizes. A feature without any value in the window has NaN
    distribution statistics and only its missing-value test (`missing`).
    """

    psi: float
    js_distance: float
    test: str
    test_statistic: float
    p_value: float
    p_value_adjusted: float = math.nan
    drifting: bool = False
    wasserstein: float = math.nan
    total_variation: float = math.nan
    missing: MissingStatistics | None = None

    @property
    def present(self) -> bool:
        return not math.isnan(self.psi)

    def as_dict(self) -> dict[str, float]:
        values = {
            "psi": self.psi,
            "js_distance": self.js_distance,
            self.test: self.test_statistic,
            "total_variation": self.total_variation,
            "p_value": self.p_value,
            "p_value_adjusted": self.p_value_adjusted,
            "drifting": float(self.drifting),
        }
        if not math.isnan(self.wasserstein) or self.test == "ks":
            values["wasserstein"] = self.wasserstein
        if self.missing is not None:
            values.update(self.missing.as_dict())
        return values


class ColumnInput(NamedTuple):
    """What the statistics of one column need: reference fractions and window counts of the
    same bins, the reference sample size, and for ordered bins their boundaries (a bin of
    zero width holds values beyond the reference's range)."""

    fractions: npt.ArrayLike
    counts: npt.ArrayLike
    reference_size: int
    boundaries: npt.ArrayLike | None = None  # None: categories (chi-squared)

    @property
    def ordered(self) -> bool:
        return self.boundaries is not None


ABSENT = ColumnStatistics(
    psi=math.nan, js_distance=math.nan, test="ks", test_statistic=math.nan, p_value=math.nan
)


@functools.cache
def _scipy_stats() -> Any:
    """scipy.stats, imported on the first window: it takes seconds to import on a busy host."""
    from scipy import stats

    return stats


def warm_up() -> None:
    """Import scipy.stats now (the monitor calls this in a thread once it has started)."""
    _scipy_stats()


def psi(expected: npt.ArrayLike, actual: npt.ArrayLike, epsilon: float = EPSILON) -> float:
    """PSI = sum((a - e) * ln(a / e)) over matching bins, with empty bins raised to `epsilon`."""
    e = np.maximum(np.asarray(expected, dtype=float), epsilon)
    a = np.maximum(np.asarray(actual, dtype=float), epsilon)
    if e.shape != a.shape:
        raise ValueError(f"{e.size} expected bins but {a.size} actual bins")
    return float(np.sum((a - e) * np.log(a / e)))


def js_distance(expected: npt.ArrayLike, actual: npt.ArrayLike) -> float:
    """Jensen-Shannon distance in base 2 (0 = same, 1 = disjoint), as scipy defines it."""
    p = _normalised(expected)
    q = _normalised(actual)
    m = (p + q) / 2
    divergence = (_kl(p, m) + _kl(q, m)) / 2
    return float(math.sqrt(max(divergence, 0.0)))


def binned_ks(
    reference_fractions: npt.ArrayLike, counts: npt.ArrayLike, reference_size: int
) -> tuple[float, float]:
    """Two-sample KS statistic and asymptotic p-value over ordered bins (see module doc)."""
    d, effective = _ks_distance(reference_fractions, counts, reference_size)
    return d, float(_ks_p_values(np.array([d]), np.array([effective]))[0])


def binned_chi2(
    reference_fractions: npt.ArrayLike, counts: npt.ArrayLike, reference_size: int
) -> tuple[float, float]:
    """Chi-squared test of homogeneity of the reference sample and the window's counts."""
    statistic, dof = _chi2_statistic(reference_fractions, counts, reference_size)
    return statistic, float(_chi2_p_values(np.array([statistic]), np.array([dof]))[0])


def column_statistics(
    reference_fractions: npt.ArrayLike, counts: npt.ArrayLike, reference_size: int, *, ordered: bool
) -> ColumnStatistics:
    """PSI, JS distance and KS (ordered bins) or chi-squared (categories) of one column; the
    Wasserstein distance is measured on unit-width bins (see column_input for real ones)."""
    boundaries = np.arange(len(np.asarray(reference_fractions)) + 1) if ordered else None
    [result] = many_column_statistics(
        [ColumnInput(reference_fractions, counts, reference_size, boundaries)]
    )
    return result


def many_column_statistics(columns: Sequence[ColumnInput]) -> list[ColumnStatistics]:
    """column_statistics of several columns, with one scipy call per test for all p-values."""
    tests: list[tuple[str, float, float]] = []
    for column in columns:
        if column.ordered:
            tests.append(("ks", *_ks_distance(*column[:3])))
        else:
            tests.append(("chi2", *_chi2_statistic(*column[:3])))
    p_values = np.ones(len(tests))
    for name, p_function in (("ks", _ks_p_values), ("chi2", _chi2_p_values)):
        chosen = [i for i, test in enumerate(tests) if test[0] == name]
        if chosen:
            statistics = np.array([tests[i][1] for i in chosen])
            parameters = np.array([tests[i][2] for i in chosen])
            p_values[chosen] = p_function(statistics, parameters)
    return [
        _statistics(column, name, statistic, float(p_value))
        for column, (name, statistic, _), p_value in zip(columns, tests, p_values, strict=True)
    ]


def _statistics(column: ColumnInput, test: str, statistic: float, p: float) -> ColumnStatistics:
    observed = np.asarray(column.counts, dtype=float)
    actual = observed / observed.sum()
    wasserstein = math.nan
    if column.boundaries is not None:
        wasserstein = relative_wasserstein(column.fractions, actual, column.boundaries)
    return ColumnStatistics(
        psi=psi(column.fractions, actual),
        js_distance=js_distance(column.fractions, actual),
        test=test,
        test_statistic=statistic,
        p_value=p,
        wasserstein=wasserstein,
        total_variation=total_variation(column.fractions, actual),
    )


def missing_statistics(
    reference_rate: float, missing: int, size: int, reference_size: int
) -> MissingStatistics:
    """Chi-squared test of the missing rate: the 2 x 2 table of present and missing rows of
    the reference sample and of the window (sparse cells pooled, as for categories)."""
    if size == 0:
        return MissingStatistics(0.0, reference_rate, test_statistic=0.0, p_value=1.0)
    statistic, dof = _chi2_statistic(
        [1.0 - reference_rate, reference_rate], [size - missing, missing], reference_size
    )
    p = float(_chi2_p_values(np.array([statistic]), np.array([dof]))[0])
    return MissingStatistics(
        rate=missing / size, reference_rate=reference_rate, test_statistic=statistic, p_value=p
    )


def total_variation(expected: npt.ArrayLike, actual: npt.ArrayLike) -> float:
    """Half the sum of absolute share differences: the share of rows that changed bin."""
    return float(np.abs(_normalised(expected) - _normalised(actual)).sum() / 2)


def relative_wasserstein(
    expected: npt.ArrayLike, actual: npt.ArrayLike, boundaries: npt.ArrayLike
) -> float:
    """Wasserstein-1 distance between two binned distributions over the reference's spread:
    in standard deviations when the reference is normal (a shift of 0.1 sigma gives 0.1)."""
    spread = reference_spread(expected, boundaries)
    return wasserstein(expected, actual, boundaries) / spread if spread > 0 else 0.0


def wasserstein(expected: npt.ArrayLike, actual: npt.ArrayLike, boundaries: npt.ArrayLike) -> float:
    """Integral of |F - G|, both taken as uniform within each bin (`boundaries[i]` to
    `boundaries[i + 1]`; a bin of zero width is a point)."""
    widths = np.diff(np.asarray(boundaries, dtype=float))
    gap = _cumulative(expected) - _cumulative(actual)
    return _integral_of_absolute_linear(gap, widths)


def reference_spread(expected: npt.ArrayLike, boundaries: npt.ArrayLike) -> float:
    """sqrt(pi) * integral of F (1 - F): half of Gini's mean difference, scaled so that it
    is the standard deviation of a normal distribution."""
    widths = np.diff(np.asarray(boundaries, dtype=float))
    return math.sqrt(math.pi) * _integral_of_f_one_minus_f(_cumulative(expected), widths)


def _cumulative(fractions: npt.ArrayLike) -> FloatArray:
    return np.concatenate([[0.0], np.cumsum(_normalised(fractions))])


def _integral_of_absolute_linear(d: FloatArray, widths: FloatArray) -> float:
    """Integral of |d| where d is linear over each interval between consecutive points."""
    a, b = d[:-1], d[1:]
    same_sign = a * b >= 0
    magnitude = np.abs(a) + np.abs(b)
    crossing = np.divide(a * a + b * b, 2 * magnitude, out=np.zeros_like(a), where=magnitude > 0)
    return float(np.sum(widths * np.where(same_sign, magnitude / 2, crossing)))


def _integral_of_f_one_minus_f(f: FloatArray, widths: FloatArray) -> float:
    a, b = f[:-1], f[1:]
    return float(np.sum(widths * ((a + b) / 2 - (a * a + a * b + b * b) / 3)))


def _ks_distance(
    reference_fractions: npt.ArrayLike, counts: npt.ArrayLike, reference_size: int
) -> tuple[float, float]:
    """Largest CDF gap at the bin edges, and the effective size of the two samples."""
    reference = _normalised(reference_fractions)
    observed = np.asarray(counts, dtype=float)
    n = float(observed.sum())
    d = float(np.max(np.abs(np.cumsum(reference) - np.cumsum(observed / n))))
    return d, float(round(n * reference_size / (n + reference_size)))


def _ks_p_values(distances: FloatArray, effective_sizes: FloatArray) -> FloatArray:
    # scipy.stats.ks_2samp(method="asymp"): Smirnov's distribution at the effective size.
    return np.asarray(_scipy_stats().kstwo.sf(distances, effective_sizes), dtype=float)


def _chi2_statistic(
    reference_fractions: npt.ArrayLike, counts: npt.ArrayLike, reference_size: int
) -> tuple[float, float]:
    """Pearson's statistic of the 2 x k table (empty columns dropped, sparse ones pooled)
    and its dof."""
    reference = _normalised(reference_fractions) * reference_size
    observed = np.asarray(counts, dtype=float)
    table = _pool_sparse(np.vstack([reference, observed]))
    if table.shape[1] < 2:
        return 0.0, 0.0  # one category on both sides: nothing can differ
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0) / table.sum()
    return float(np.sum((table - expected) ** 2 / expected)), float(table.shape[1] - 1)


def _pool_sparse(table: FloatArray) -> FloatArray:
    """Columns whose smaller expected cell is under MIN_EXPECTED pooled into one; if the pool
    is still sparse, the smallest other column joins it."""
    table = table[:, table.sum(axis=0) > 0]
    rows = table.sum(axis=1)
    if table.shape[1] < 2 or rows.min() <= 0:
        return table
    totals = table.sum(axis=0)
    sparse = totals * rows.min() / rows.sum() < MIN_EXPECTED
    if not sparse.any():
        return table
    pool, rest = table[:, sparse].sum(axis=1), table[:, ~sparse]
    if pool.sum() * rows.min() / rows.sum() < MIN_EXPECTED and rest.shape[1] > 0:
        smallest = int(np.argmin(rest.sum(axis=0)))
        pool = pool + rest[:, smallest]
        rest = np.delete(rest, smallest, axis=1)
    return np.column_stack([rest, pool])


def _chi2_p_values(statistics: FloatArray, dofs: FloatArray) -> FloatArray:
    p = np.ones_like(statistics)
    valid = dofs > 0
    p[valid] = _scipy_stats().chi2.sf(statistics[valid], dofs[valid])
    return p


def benjamini_hochberg(p_values: npt.ArrayLike) -> FloatArray:
    """p-values adjusted for the false discovery rate, as scipy's false_discovery_control."""
    p = np.asarray(p_values, dtype=float)
    if p.size == 0:
        return p
    order = np.argsort(p)
    ranked = p[order] * p.size / np.arange(1, p.size + 1)
    # Monotone from the largest p-value down, capped at 1.
    adjusted_sorted = np.minimum(np.minimum.accumulate(ranked[::-1])[::-1], 1.0)
    adjusted = np.empty_like(adjusted_sorted)
    adjusted[order] = adjusted_sorted
    return adjusted


def _normalised(values: npt.ArrayLike) -> FloatArray:
    array: FloatArray = np.asarray(values, dtype=float)
    total = array.sum()
    return array / total if total > 0 else array


def _kl(p: FloatArray, q: FloatArray) -> Any:
    mask = p > 0
    return np.sum(p[mask] * np.log2(p[mask] / q[mask]))
