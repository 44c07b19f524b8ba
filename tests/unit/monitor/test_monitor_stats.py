"""Binned statistics against scipy on the same samples, and incremental counts vs recomputation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats
from scipy.spatial.distance import jensenshannon

from contracts import CategoricalReference, NumericReference, ReferenceStatistics
from mlbus.datagen import RecordGenerator
from services.monitor.accumulate import ColumnBins, WindowCounts
from services.monitor.stats import (
    benjamini_hochberg,
    binned_chi2,
    binned_ks,
    column_statistics,
    js_distance,
)
from services.monitor.windows import Observation, columns
from tests.support.drift_oracle import window_psi

RNG = np.random.default_rng(42)


def _quantile_reference(sample: np.ndarray, bins: int = 10) -> NumericReference:
    edges = np.unique(np.quantile(sample, np.linspace(0, 1, bins + 1)))
    counts, _ = np.histogram(sample, bins=edges)
    return NumericReference(
        bin_edges=tuple(float(e) for e in edges),
        fractions=tuple(float(c) / sample.size for c in counts),
    )


def _bin_indexes(bins: ColumnBins, values: np.ndarray) -> np.ndarray:
    return np.repeat(np.arange(bins.size), bins.counts(list(values)))


@pytest.mark.parametrize(("shift", "n"), [(0.0, 1000), (0.3, 1000), (0.05, 300), (1.0, 50)])
def test_binned_ks_equals_scipy_ks_2samp_on_the_bin_indexes(shift: float, n: int) -> None:
    reference_sample = RNG.gamma(2.0, 1.0, size=4000)
    window = RNG.gamma(2.0, 1.0, size=n) + shift
    bins = ColumnBins(_quantile_reference(reference_sample))
    counts = bins.counts(list(window))

    d, p = binned_ks(bins.fractions, counts, reference_sample.size)
    expected = scipy_stats.ks_2samp(
        _bin_indexes(bins, reference_sample), _bin_indexes(bins, window), method="asymp"
    )
    assert d == pytest.approx(expected.statistic, abs=1e-12)
    assert p == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)
    # The binned approximation only looks at the bin edges: never above the raw statistic.
    raw = scipy_stats.ks_2samp(reference_sample, window, method="asymp")
    assert d <= raw.statistic + 1e-12


@pytest.mark.parametrize("tilt", [0.0, 0.2])
def test_binned_chi2_equals_scipy_chi2_contingency(tilt: float) -> None:
    categories = ["furnished", "semi-furnished", "unfurnished"]
    reference_counts = np.array([1300, 2100, 1600])
    reference = CategoricalReference(
        frequencies={
            c: n / reference_counts.sum() for c, n in zip(categories, reference_counts, strict=True)
        }
    )
    weights = np.array([0.26 - tilt, 0.42, 0.32 + tilt])
    window = list(RNG.choice(categories, size=800, p=weights)) + ["castle"] * 3
    bins = ColumnBins(reference)
    counts = bins.counts(window)
    assert counts[-1] == 3  # the unseen bucket

    statistic, p = binned_chi2(bins.fractions, counts, int(reference_counts.sum()))
    table = np.vstack([np.append(reference_counts, 0), counts])
    # 3 unseen rows are too few for a cell of their own (expected < 5): they are pooled
    # with the smallest category, and scipy is given the same pooled table.
    pooled = np.column_stack([table[:, 1], table[:, 2], table[:, 0] + table[:, 3]])
    expected = scipy_stats.chi2_contingency(pooled, correction=False)
    assert statistic == pytest.approx(expected.statistic, rel=1e-9)
    assert p == pytest.approx(expected.pvalue, rel=1e-6, abs=1e-300)


def test_js_distance_equals_scipy() -> None:
    for _ in range(20):
        p, q = RNG.random(8), RNG.random(8)
        q[RNG.integers(8)] = 0.0  # empty bins on one side are fine
        assert js_distance(p, q) == pytest.approx(jensenshannon(p, q, base=2), abs=1e-12)
    assert js_distance([0.5, 0.5], [0.5, 0.5]) == 0.0
    assert js_distance([1.0, 0.0], [0.0, 1.0]) == pytest.approx(1.0)


def test_benjamini_hochberg_equals_scipy() -> None:
    p_values = np.concatenate([RNG.random(12), [1e-6, 0.003, 0.003, 1.0]])
    expected = scipy_stats.false_discovery_control(p_values, method="bh")
    assert benjamini_hochberg(p_values) == pytest.approx(expected, abs=1e-15)
    assert benjamini_hochberg([]).size == 0


def test_a_category_only_the_reference_has_is_a_finite_two_sample_test() -> None:
    statistic, p = binned_chi2([1.0, 0.0], [0, 0], 100)
    assert (statistic, p) == (0.0, 1.0)
    stats = column_statistics([0.5, 0.5, 0.0], [0, 100, 0], 1000, ordered=False)
    assert stats.test == "chi2"
    assert stats.p_value < 0.01
    assert np.isfinite(stats.psi)


def test_counts_added_in_random_batches_equal_a_whole_window_recomputation(
    reference: ReferenceStatistics,
) -> None:
    rows = list(RecordGenerator(seed=9, drift={"area": 0.3, "basement": 0.4}).records(1000))
    observations = [
        Observation(
            features={k: v for k, v in r.items() if k not in ("record_id", "price")},
            prediction=r["price"],
        )
        for r in rows
    ]
    window = WindowCounts.for_reference(reference)
    start = 0
    while start < len(observations):
        size = int(RNG.integers(1, 97))
        batch = observations[start : start + size]
        window.add_batch(columns(batch, window.bins), len(batch))
        start += size
    assert window.size == 1000

    recomputed = window_psi([o.features for o in observations], reference)
    for name, value in recomputed.items():
        bins = window.bins[name]
        counts = window.counts[name][: bins.size]  # the last slot counts missing values
        stats = column_statistics(bins.fractions, counts, 5000, ordered=bins.ordered)
        assert stats.psi == pytest.approx(value, rel=1e-12), name
