"""Drift statistics of a window's bin counts against a reference's bin fractions.

Every statistic works on counts per bin, never on raw rows, so a window costs the same
memory whatever its traffic. Numeric features are binned by the reference's quantile edges,
categorical ones by the reference's categories plus one bucket of unseen categories.

KS is therefore the *binned* two-sample statistic: the largest gap between the two CDFs at
the reference's bin edges. It equals scipy's `ks_2samp` on the bin indexes of the same
samples and is never larger than the KS statistic of the raw values (a shift that stays
inside one bin is invisible). The reference is a sample of `reference_size` training rows,
so both KS and chi-squared are two-sample tests: a small reference makes them cautious.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

# Stands in for an empty bin on either side, so PSI stays finite.
EPSILON = 1e-4

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ColumnStatistics:
    """One feature (or the predictions) in one window; `test` names KS or chi-squared."""

    psi: float
    js_distance: float
    test: str
    test_statistic: float
    p_value: float
    p_value_adjusted: float = math.nan
    drifting: bool = False

    def as_dict(self) -> dict[str, float]:
        return {
            "psi": self.psi,
            "js_distance": self.js_distance,
            self.test: self.test_statistic,
            "p_value": self.p_value,
            "p_value_adjusted": self.p_value_adjusted,
            "drifting": float(self.drifting),
        }


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
    """PSI, JS distance and KS (ordered bins) or chi-squared (categories) of one column."""
    [result] = many_column_statistics([(reference_fractions, counts, ordered)], reference_size)
    return result


def many_column_statistics(
    columns: Sequence[tuple[npt.ArrayLike, npt.ArrayLike, bool]], reference_size: int
) -> list[ColumnStatistics]:
    """column_statistics of several columns, with one scipy call per test for all p-values."""
    tests: list[tuple[str, float, float]] = []
    for fractions, counts, ordered in columns:
        if ordered:
            tests.append(("ks", *_ks_distance(fractions, counts, reference_size)))
        else:
            tests.append(("chi2", *_chi2_statistic(fractions, counts, reference_size)))
    p_values = np.ones(len(tests))
    for name, p_function in (("ks", _ks_p_values), ("chi2", _chi2_p_values)):
        chosen = [i for i, test in enumerate(tests) if test[0] == name]
        if chosen:
            statistics = np.array([tests[i][1] for i in chosen])
            parameters = np.array([tests[i][2] for i in chosen])
            p_values[chosen] = p_function(statistics, parameters)
    results = []
    for (fractions, counts, _), (name, statistic, _), p_value in zip(
        columns, tests, p_values, strict=True
    ):
        observed = np.asarray(counts, dtype=float)
        actual = observed / observed.sum()
        results.append(
            ColumnStatistics(
                psi=psi(fractions, actual),
                js_distance=js_distance(fractions, actual),
                test=name,
                test_statistic=statistic,
                p_value=float(p_value),
            )
        )
    return results


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
    """Pearson's statistic of the 2 x k table (empty columns dropped) and its dof."""
    reference = _normalised(reference_fractions) * reference_size
    observed = np.asarray(counts, dtype=float)
    table = np.vstack([reference, observed])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 0.0, 0.0  # one category on both sides: nothing can differ
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0) / table.sum()
    return float(np.sum((table - expected) ** 2 / expected)), float(table.shape[1] - 1)


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
