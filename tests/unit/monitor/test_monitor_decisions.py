"""Drift decisions on generated streams: false alarms, a +30% shift, share and cooldown."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mlbus.datagen import RecordGenerator
from services.monitor.accumulate import Baseline
from services.monitor.windows import DriftWindows, Observation, WindowPolicy, WindowReport

KEY = ("house-prices", 1)
WINDOW = 1000
STATIONARY_WINDOWS = 100


def _observations(
    rows: Iterator[dict[str, Any]], scale: dict[str, float] | None = None
) -> list[Observation]:
    scale = scale or {}
    result = []
    for r in rows:
        features = {k: v for k, v in r.items() if k not in ("record_id", "price")}
        for name, factor in scale.items():
            features[name] = features[name] * factor
        result.append(Observation(features=features, prediction=r["price"]))
    return result


def _run(
    windows: DriftWindows, baseline: Baseline, observations: list[Observation]
) -> list[WindowReport]:
    reports: list[WindowReport] = []
    for start in range(0, len(observations), 250):  # batches, as the consumer delivers them
        for o in observations[start : start + 250]:
            windows.add(KEY, o)
        reports += [r for r in windows.evaluate(KEY, baseline) if r.complete]
    return reports


@pytest.fixture(scope="module")
def stationary() -> list[Observation]:
    return _observations(RecordGenerator(seed=11).records(WINDOW * STATIONARY_WINDOWS))


def test_a_stationary_stream_flags_at_most_one_percent_of_windows(
    baseline: Baseline, stationary: list[Observation]
) -> None:
    windows = DriftWindows(WindowPolicy(window_size=WINDOW, min_window=WINDOW))
    reports = _run(windows, baseline, stationary)
    assert len(reports) == STATIONARY_WINDOWS
    flagged = sum(r.drifting for r in reports)
    assert flagged / len(reports) <= 0.01
    assert all(r.drift is None for r in reports)
    # The p-values are honest under the null: few features are significant on their own.
    significant = sum(s.p_value < 0.01 for r in reports for s in r.statistics.features.values())
    assert significant / (len(reports) * len(baseline.reference.features)) < 0.05


@pytest.mark.parametrize(
    ("drift", "scale"),
    [({"area": 0.3}, None), (None, {"area": 1.3})],
    ids=["shift-by-30%-of-range", "area-times-1.3"],
)
def test_a_30_percent_shift_on_one_feature_is_detected_within_two_windows(
    baseline: Baseline, drift: dict[str, float] | None, scale: dict[str, float] | None
) -> None:
    windows = DriftWindows(WindowPolicy(window_size=WINDOW, min_window=WINDOW, drift_windows=2))
    rows = RecordGenerator(seed=12, drift=drift).records(2 * WINDOW)
    reports = _run(windows, baseline, _observations(rows, scale))
    assert [r.drifting for r in reports] == [True, True]
    event = reports[1].drift
    assert event is not None
    assert event.window_size == WINDOW
    assert event.features[0].feature == "area"
    assert len(event.features) == len(baseline.reference.features)  # every feature's PSI
    stats = reports[1].statistics.features
    assert [name for name, s in stats.items() if s.drifting] == ["area"]
    assert stats["area"].p_value_adjusted < 0.01
    assert stats["area"].test == "ks"


def test_the_share_of_drifting_features_decides_for_the_data_set(baseline: Baseline) -> None:
    # One drifting feature of twelve is not a third of them.
    policy = WindowPolicy(window_size=WINDOW, min_window=WINDOW, drift_share=0.3)
    rows = RecordGenerator(seed=13, drift={"area": 0.3}).records(2 * WINDOW)
    reports = _run(DriftWindows(policy), baseline, _observations(rows))
    assert [r.drifting for r in reports] == [False, False]
    assert all(r.statistics.features["area"].drifting for r in reports)
    assert reports[0].statistics.drift_share == pytest.approx(1 / len(baseline.reference.features))


def test_one_shift_gives_one_drift_event_within_the_cooldown(baseline: Baseline) -> None:
    now = [0.0]
    policy = WindowPolicy(window_size=500, min_window=500, drift_windows=2, cooldown_seconds=60)
    windows = DriftWindows(policy, clock=lambda: now[0])
    rows = _observations(RecordGenerator(seed=14, drift={"area": 0.3}).records(4000))

    first = _run(windows, baseline, rows[:2000])  # 4 drifting windows: 2 full runs
    assert [r.drift is not None for r in first] == [False, True, False, False]
    assert [r.suppressed for r in first] == [False, False, False, True]

    now[0] = 61.0  # cooldown over: the drift that still holds is raised again
    second = _run(windows, baseline, rows[2000:])
    assert [r.drift is not None for r in second] == [False, True, False, False]


def test_a_feature_missing_from_half_the_rows_ranks_by_its_missing_share(
    baseline: Baseline,
) -> None:
    # `parking` keeps its distribution where present, but half the rows lose it, while `area`
    # moves by 30%: both drift, and the event ranks the larger move (the missing share) first.
    windows = DriftWindows(WindowPolicy(window_size=WINDOW, min_window=WINDOW, drift_windows=2))
    observations = _observations(RecordGenerator(seed=13).records(2 * WINDOW), {"area": 1.3})
    for index, observation in enumerate(observations):
        if index % 2:
            observation.features["parking"] = None
    reports = _run(windows, baseline, observations)
    event = reports[-1].drift
    assert event is not None
    stats = reports[-1].statistics.features
    assert stats["parking"].present, stats["parking"]
    assert stats["parking"].drifting, stats["parking"]
    assert [f.feature for f in event.features[:2]] == ["parking", "area"], event.features[:3]
    assert event.features[0].psi > stats["parking"].psi
