"""Tumbling windows, early partial reports and the consecutive-drift count."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from contracts import PredictionMade
from services.monitor.accumulate import Baseline
from services.monitor.windows import DriftWindows, Observation, WindowPolicy

MakePredictions = Callable[..., list[PredictionMade]]
KEY = ("house-prices", 1)
SIZE = 300
DRIFT = {"area": 0.3}


@pytest.fixture
def windows() -> DriftWindows:
    return DriftWindows(WindowPolicy(window_size=SIZE, min_window=100, drift_windows=2))


def _feed(windows: DriftWindows, events: list[PredictionMade]) -> None:
    for event in events:
        windows.add(KEY, Observation.of(event))


def test_a_full_window_of_reference_data_is_not_drifting(
    windows: DriftWindows, baseline: Baseline, make_predictions: MakePredictions
) -> None:
    _feed(windows, make_predictions(SIZE, seed=1))
    [report] = windows.evaluate(KEY, baseline)
    assert report.complete
    assert report.size == SIZE
    assert set(report.feature_psi) == set(baseline.reference.features)
    assert max(report.feature_psi.values()) < 0.2
    assert report.prediction_psi is not None
    assert report.prediction_psi < 0.2
    assert not report.drifting
    assert report.drift is None


def test_drift_is_detected_exactly_once_after_two_drifting_windows(
    windows: DriftWindows, baseline: Baseline, make_predictions: MakePredictions
) -> None:
    _feed(windows, make_predictions(SIZE, seed=1, drift=DRIFT))
    [first] = windows.evaluate(KEY, baseline)
    assert first.drifting
    assert first.drift is None

    _feed(windows, make_predictions(SIZE, seed=2, drift=DRIFT))
    [second] = windows.evaluate(KEY, baseline)
    assert second.drift is not None
    event = second.drift
    assert (event.model_name, event.model_version) == KEY
    assert event.window_size == SIZE
    assert event.threshold == windows.policy.rule.threshold
    assert event.features[0].feature == "area"
    assert event.features[0].psi > 0.2
    psis = [f.psi for f in event.features]
    assert psis == sorted(psis, reverse=True)

    # The count restarts: the third drifting window alone raises nothing.
    _feed(windows, make_predictions(SIZE, seed=3, drift=DRIFT))
    [third] = windows.evaluate(KEY, baseline)
    assert third.drifting
    assert third.drift is None


def test_a_clean_window_resets_the_drift_count(
    windows: DriftWindows, baseline: Baseline, make_predictions: MakePredictions
) -> None:
    events = (
        make_predictions(SIZE, seed=1, drift=DRIFT)
        + make_predictions(SIZE, seed=2)
        + make_predictions(SIZE, seed=3, drift=DRIFT)
    )
    _feed(windows, events)
    reports = windows.evaluate(KEY, baseline)
    assert [r.drifting for r in reports] == [True, False, True]
    assert all(r.drift is None for r in reports)


def test_a_partial_first_window_is_reported_once_it_reaches_min_window(
    windows: DriftWindows, baseline: Baseline, make_predictions: MakePredictions
) -> None:
    events = make_predictions(SIZE + 150, seed=1)
    _feed(windows, events[:99])
    assert windows.evaluate(KEY, baseline) == []
    _feed(windows, events[99:120])
    [partial] = windows.evaluate(KEY, baseline)
    assert not partial.complete
    assert partial.size == 120
    assert partial.drift is None
    assert partial.feature_psi["area"] >= 0
    assert windows.evaluate(KEY, baseline) == []  # nothing new: no second look

    # Once a full window exists, partial windows no longer move the gauges.
    _feed(windows, events[120:])
    reports = windows.evaluate(KEY, baseline)
    assert [(r.complete, r.size) for r in reports] == [(True, SIZE)]
    state = windows.state(KEY)
    assert state is not None
    assert state.open_size == 150


def test_predictions_wait_for_their_reference_within_a_bound(
    baseline: Baseline, make_predictions: MakePredictions
) -> None:
    windows = DriftWindows(WindowPolicy(window_size=100, min_window=50, max_pending_windows=2))
    _feed(windows, make_predictions(250, seed=1))
    state = windows.state(KEY)
    assert state is not None
    assert len(state.pending) == 200
    assert state.dropped == 50

    reports = windows.evaluate(KEY, baseline)
    assert [(r.complete, r.size) for r in reports] == [(True, 100), (True, 100)]


def test_versions_have_separate_windows(
    windows: DriftWindows, baseline: Baseline, make_predictions: MakePredictions
) -> None:
    for event in make_predictions(SIZE, seed=1, model_version=2):
        windows.add(("house-prices", 2), Observation.of(event))
    assert windows.evaluate(KEY, baseline) == []
    [report] = windows.evaluate(("house-prices", 2), baseline)
    assert report.model_version == 2
    assert report.complete


def test_a_time_window_closes_a_quiet_window_once_it_holds_min_window(
    baseline: Baseline, make_predictions: MakePredictions
) -> None:
    now = [0.0]
    policy = WindowPolicy(window_size=1000, min_window=100, window_seconds=60)
    windows = DriftWindows(policy, clock=lambda: now[0])
    events = make_predictions(200, seed=1, drift=DRIFT)
    _feed(windows, events[:150])
    [early] = windows.evaluate(KEY, baseline)
    assert not early.complete

    now[0] = 61.0  # nothing new arrived, but the window's time is up
    [closed] = windows.evaluate(KEY, baseline)
    assert closed.complete
    assert closed.size == 150
    assert closed.drifting

    _feed(windows, events[150:])  # 50: too few to judge, even when their time is up
    now[0] = 200.0
    assert windows.evaluate(KEY, baseline) == []
    state = windows.state(KEY)
    assert state is not None
    assert state.complete_windows == 1
    assert state.open_size == 50


def test_only_the_newest_versions_of_a_model_keep_windows(
    make_predictions: MakePredictions,
) -> None:
    windows = DriftWindows(WindowPolicy(window_size=100, min_window=50, max_versions=2))
    [event] = make_predictions(1, seed=1)
    for version in (1, 2, 3):
        windows.add(("house-prices", version), Observation.of(event))
    windows.add(("other-model", 1), Observation.of(event))
    assert windows.model_keys() == [("house-prices", 2), ("house-prices", 3), ("other-model", 1)]
