"""Issue 18: discrete bins with overflow, missing values as a signal, effect sizes, sequential
totals; each statistic checked against scipy on the same bins."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from scipy import integrate
from scipy import stats as scipy_stats

from contracts import CategoricalReference, FeatureValue, NumericReference, ReferenceStatistics
from services.monitor.accumulate import (
    PREDICTION,
    Baseline,
    ColumnBins,
    DriftRule,
    WindowCounts,
    window_statistics,
)
from services.monitor.stats import (
    binned_chi2,
    missing_statistics,
    reference_spread,
    relative_wasserstein,
    total_variation,
    wasserstein,
)
from services.monitor.windows import DriftWindows, Observation, WindowPolicy
from services.trainer.reference import numeric_reference

RNG = np.random.default_rng(18)
INTEGER = NumericReference(
    bin_edges=(0.5, 1.5, 2.5, 3.5, 4.5),
    fractions=(0.2, 0.3, 0.3, 0.2),
    binning="discrete",
)
FLAG = CategoricalReference(frequencies={"yes": 0.4, "no": 0.6}, missing_fraction=0.1)
NUMBER = NumericReference(bin_edges=(0.0, 1.0, 2.0, 3.0), fractions=(0.3, 0.4, 0.3))


def _reference() -> ReferenceStatistics:
    return ReferenceStatistics(
        features={"rooms": INTEGER, "flag": FLAG, "x": NUMBER}, prediction=NUMBER, size=2000
    )


def test_discrete_bins_count_unseen_values_apart_and_missing_values_last() -> None:
    bins = ColumnBins(INTEGER)
    assert bins.binning == "discrete"
    assert bins.size == 6
    assert bins.slots == 7
    assert bins.fractions.tolist() == [0.0, 0.2, 0.3, 0.3, 0.2, 0.0]
    assert bins.labels[0] == "below 0.5"
    assert bins.labels[-1] == "above 4.5"
    tally = bins.tally([0, 1, 2, 2, 4, 4.6, 7, None, math.nan, math.inf, "three"])
    # 0 below, 1, 2, 2, 4, then 4.6 and 7 above; None, NaN, inf and a string are missing.
    assert tally.tolist() == [1, 1, 2, 0, 1, 2, 4]
    assert bins.counts([4, 5]).tolist() == [0, 0, 0, 0, 1, 1]


def test_quantile_bins_still_fold_outliers_into_the_end_bins() -> None:
    bins = ColumnBins(NUMBER)
    assert bins.binning == "quantile"
    assert bins.tally([-5, 0.5, 2.5, 3.0, 99, None]).tolist() == [2, 0, 3, 1]


def test_missing_categories_are_none_empty_and_nan() -> None:
    bins = ColumnBins(FLAG)
    assert bins.tally(["yes", "no", "castle", None, "", math.nan, True]).tolist() == [1, 1, 2, 3]


def test_an_absent_column_is_missing_in_every_row() -> None:
    window = WindowCounts.for_reference(_reference())
    window.add_batch({"rooms": [1, 2, 3], PREDICTION: [1.0, 1.0, 1.0]}, 3)
    assert window.counts["flag"].tolist() == [0, 0, 0, 3]
    assert window.counts["x"][-1] == 3


def test_the_missing_rate_test_equals_scipy_on_the_2x2_table() -> None:
    result = missing_statistics(0.1, missing=180, size=1000, reference_size=2000)
    table = np.array([[1800, 200], [820, 180]])
    expected = scipy_stats.chi2_contingency(table, correction=False)
    assert result.test_statistic == pytest.approx(expected.statistic, rel=1e-9)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-9)
    assert result.rate == 0.18
    assert result.reference_rate == 0.1
    # A few missing values against none in training are not evidence (cells expected < 5).
    assert missing_statistics(0.0, missing=2, size=1000, reference_size=2000).p_value == 1.0


def test_sparse_categories_are_pooled_before_chi_squared() -> None:
    # A 0.5 % category with 100 rows: its expected count is 0.5, so it is pooled.
    fractions = [0.6, 0.395, 0.005, 0.0]
    counts = np.array([58, 39, 3, 0])
    statistic, p = binned_chi2(fractions, counts, 2000)
    reference = np.array([1200, 790, 10])
    table = np.vstack([reference, counts[:3]])
    pooled = np.column_stack([table[:, 0], table[:, 1] + table[:, 2]])
    expected = scipy_stats.chi2_contingency(pooled, correction=False)
    assert statistic == pytest.approx(expected.statistic, rel=1e-9)
    assert p == pytest.approx(expected.pvalue, rel=1e-9)


def test_sparse_categories_keep_false_alarms_near_alpha() -> None:
    fractions = np.array([0.6, 0.395, 0.005])
    alarms = 0
    trials = 2000
    for _ in range(trials):
        reference = RNG.multinomial(800, fractions)
        window = RNG.multinomial(100, fractions)
        _, p = binned_chi2(reference / 800, window, 800)
        alarms += p < 0.01
    assert alarms / trials <= 0.015


def _cdf(fractions: np.ndarray, boundaries: np.ndarray) -> Callable[[float], float]:
    cumulative = np.concatenate([[0.0], np.cumsum(fractions / fractions.sum())])
    return lambda x: np.interp(x, boundaries, cumulative)


def test_wasserstein_equals_scipy_integral_of_the_cdf_gap_on_the_same_bins() -> None:
    boundaries = np.array([0.0, 1.0, 2.5, 3.0, 7.0])
    expected, actual = RNG.random(4), RNG.random(4)
    f, g = _cdf(expected, boundaries), _cdf(actual, boundaries)
    gap, _ = integrate.quad(lambda x: abs(f(x) - g(x)), 0, 7, points=boundaries, limit=200)
    spread, _ = integrate.quad(lambda x: f(x) * (1 - f(x)), 0, 7, points=boundaries, limit=200)
    result = relative_wasserstein(expected, actual, boundaries)
    assert result == pytest.approx(gap / (math.sqrt(math.pi) * spread), rel=1e-6)


def test_wasserstein_of_a_whole_value_moved_equals_scipy_on_the_values() -> None:
    bins = ColumnBins(INTEGER)
    assert bins.boundaries is not None
    moved = [0.0, 0.2, 0.3, 0.0, 0.5, 0.0]  # every 3 became a 4
    raw = scipy_stats.wasserstein_distance(
        [1, 2, 3, 4], [1, 2, 3, 4], [0.2, 0.3, 0.3, 0.2], [0.2, 0.3, 0.0, 0.5]
    )
    assert wasserstein(bins.fractions, moved, bins.boundaries) == pytest.approx(raw, abs=1e-12)
    spread = reference_spread(bins.fractions, bins.boundaries)
    assert relative_wasserstein(bins.fractions, moved, bins.boundaries) == pytest.approx(
        raw / spread
    )


def test_wasserstein_of_a_normal_shift_reads_in_standard_deviations() -> None:
    sample = RNG.normal(50, 10, 200_000)
    column = numeric_reference(sample)
    assert column is not None
    assert column.binning == "quantile"
    bins = ColumnBins(column)
    assert bins.boundaries is not None
    shifted = bins.counts(list(RNG.normal(53, 10, 200_000)))
    assert relative_wasserstein(bins.fractions, shifted, bins.boundaries) == pytest.approx(
        0.3, abs=0.03
    )


def test_total_variation_is_half_the_l1_distance_scipy_computes() -> None:
    from scipy.spatial.distance import cityblock

    p, q = RNG.random(5), RNG.random(5)
    expected = cityblock(p / p.sum(), q / q.sum()) / 2
    assert total_variation(p, q) == pytest.approx(expected, abs=1e-12)


def _window(rows: list[dict[str, FeatureValue]], reference: ReferenceStatistics) -> WindowCounts:
    window = WindowCounts.for_reference(reference)
    columns = {name: [r.get(name) for r in rows] for name in window.bins if name != PREDICTION}
    window.add_batch({**columns, PREDICTION: [1.5] * len(rows)}, len(rows))
    return window


def _rows(n: int, *, rooms: list[int], flag: list[str | None]) -> list[dict[str, FeatureValue]]:
    room_values = RNG.choice(rooms, n)
    flag_values = RNG.choice(np.array(flag, dtype=object), n)
    x = RNG.choice([0.5, 1.5, 2.5], n, p=[0.3, 0.4, 0.3])
    return [
        {"rooms": int(a), "flag": b, "x": float(c)}
        for a, b, c in zip(room_values, flag_values, x, strict=True)
    ]


def test_a_feature_that_stops_arriving_is_reported_by_its_missing_rate() -> None:
    reference = _reference()
    rows = _rows(1000, rooms=[1, 2, 2, 3, 3, 3, 4, 4], flag=[None])
    statistics = window_statistics(_window(rows, reference), 2000, DriftRule())
    flag = statistics.features["flag"]
    assert not flag.present
    assert math.isnan(flag.psi)
    assert flag.missing is not None
    assert flag.missing.rate == 1.0
    assert flag.missing.drifting
    assert flag.drifting
    assert statistics.drift_share >= 1 / 3
    assert set(statistics.features) == {"rooms", "flag", "x"}


def test_an_integer_value_never_seen_in_training_drifts() -> None:
    reference = _reference()
    rows = _rows(1000, rooms=[1, 2, 2, 3, 3, 3, 5, 5], flag=["yes", "no", "no", None])
    statistics = window_statistics(_window(rows, reference), 2000, DriftRule())
    rooms = statistics.features["rooms"]
    assert rooms.drifting
    assert rooms.total_variation >= 0.2
    assert not statistics.features["x"].drifting


def test_the_prediction_is_adjusted_in_the_same_family_as_the_features() -> None:
    reference = _reference()
    rows = _rows(500, rooms=[1, 2, 2, 3, 3, 3, 4, 4], flag=["yes", "no", "no"])
    statistics = window_statistics(_window(rows, reference), 2000, DriftRule())
    prediction = statistics.prediction
    assert prediction is not None
    features = statistics.features.values()
    family = [s.p_value for s in features] + [prediction.p_value]
    family += [s.missing.p_value for s in features if s.missing is not None]
    expected = scipy_stats.false_discovery_control(family, method="bh")
    assert prediction.p_value_adjusted == pytest.approx(expected[3], abs=1e-12)
    assert prediction.p_value_adjusted >= prediction.p_value


def test_the_psi_rule_and_the_distance_rule_judge_the_same_statistics() -> None:
    reference = _reference()
    rows = _rows(1000, rooms=[1, 2, 3, 3, 3, 4, 4, 4], flag=["yes", "no"])
    window = _window(rows, reference)
    by_psi = window_statistics(window, 2000, DriftRule(effect="psi", psi_threshold=10.0))
    by_distance = window_statistics(window, 2000, DriftRule(effect="distance"))
    assert by_psi.features["rooms"].p_value == by_distance.features["rooms"].p_value
    assert not by_psi.features["rooms"].drifting
    assert by_distance.features["rooms"].drifting


def test_sequential_totals_catch_a_shift_too_small_for_any_one_window() -> None:
    reference = ReferenceStatistics(features={"x": NUMBER}, prediction=NUMBER, size=20_000)
    baseline = Baseline(reference, 20_000)
    policy = WindowPolicy(window_size=400, min_window=400, sequential=True, drift_windows=1)
    windows = DriftWindows(policy)
    shares = [0.25, 0.4, 0.35]  # 5 points moved from the first bin to the last
    caught_by_window, caught_by_totals = 0, None
    for index in range(1, 31):
        values = RNG.choice([0.5, 1.5, 2.5], 400, p=shares)
        for value in values:
            windows.add(("m", 1), Observation(features={"x": float(value)}, prediction=1.5))
        [report] = windows.evaluate(("m", 1), baseline)
        assert report.sequential is not None
        assert report.sequential_size == 400 * index
        caught_by_window += report.statistics.features["x"].drifting
        if caught_by_totals is None and report.sequential.features["x"].drifting:
            caught_by_totals = index
    assert caught_by_totals is not None
    assert caught_by_totals <= 15
    assert caught_by_window < 15  # one window alone mostly misses it


def test_the_report_shows_binning_missing_features_and_the_totals() -> None:
    from services.monitor.report import render_report

    reference = _reference()
    baseline = Baseline(reference, 2000)
    policy = WindowPolicy(window_size=300, min_window=300, sequential=True, drift_windows=1)
    windows = DriftWindows(policy)
    for row in _rows(300, rooms=[1, 2, 3, 5], flag=[None]):
        windows.add(("m", 1), Observation(features=row, prediction=1.5))
    [report] = windows.evaluate(("m", 1), baseline)
    page = render_report([(("m", 1), report, baseline)], [])
    assert "one bin per value (4), values beyond them apart" in page
    assert "3 quantile bins; 0.0% missing in training" in page
    assert "2 categories, unseen ones apart; 10.0% missing in training" in page
    assert "No value in this window." in page  # flag stopped arriving: no chart, its test
    assert "<tr><th>missing_rate</th><td>1</td></tr>" in page
    assert "All 300 predictions of the version's complete windows together" in page
    # Drifting features come first: flag (missing) and rooms (a value never seen).
    assert page.index("data-feature='flag'") < page.index("data-feature='x'")
    assert page.index("data-feature='rooms'") < page.index("data-feature='x'")
