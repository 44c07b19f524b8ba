"""Tumbling windows, early partial reports and the consecutive-drift count."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from contracts import PredictionMade, ReferenceStatistics
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
    windows: DriftWindows, reference: ReferenceStatistics, make_predictions: MakePredictions
) -> None:
    _feed(windows, make_predictions(SIZE, seed=1))
    [report] = windows.evaluate(KEY, reference)
    assert report.complete and report.size == SIZE
    assert set(report.feature_psi) == set(reference.features)
    assert max(report.feature_psi.values()) < 0.2
    assert report.prediction_psi is not None and report.prediction_psi < 0.2
    assert not report.drifting and report.drift is None


def test_drift_is_detected_exactly_once_after_two_drifting_windows(
    windows: DriftWindows, reference: ReferenceStatistics, make_predictions: MakePredictions
) -> None:
    _feed(windows, make_predictions(SIZE, seed=1, drift=DRIFT))
    [first] = windows.evaluate(KEY, reference)
    assert first.drifting and first.drift is None

    _feed(windows, make_predictions(SIZE, seed=2, drift=DRIFT))
    [second] = windows.evaluate(KEY, reference)
    assert second.drift is not None
    event = second.drift
    assert (event.model_name, event.model_version) == KEY
    assert event.window_size == SIZE and event.threshold == 0.2
    assert event.features[0].feature == "area" and event.features[0].psi > 0.2
    psis = [f.psi for f in event.features]
    assert psis == sorted(psis, reverse=True)

    # The count restarts: the third drifting window alone raises nothing.
    _feed(windows, make_predictions(SIZE, seed=3, drift=DRIFT))
    [third] = windows.evaluate(KEY, reference)
    assert third.drifting and third.drift is None


def test_a_clean_window_resets_the_drift_count(
    windows: DriftWindows, reference: ReferenceStatistics, make_predictions: MakePredictions
) -> None:
    events = (
        make_predictions(SIZE, seed=1, drift=DRIFT)
        + make_predictions(SIZE, seed=2)
        + make_predictions(SIZE, seed=3, drift=DRIFT)
    )
    _feed(windows, events)
    reports = windows.evaluate(KEY, reference)
    assert [r.drifting for r in reports] == [True, False, True]
    assert all(r.drift is None for r in reports)


def test_a_partial_first_window_is_reported_once_it_reaches_min_window(
    windows: DriftWindows, reference: ReferenceStatistics, make_predictions: MakePredictions
) -> None:
    events = make_predictions(SIZE + 150, seed=1)
    _feed(windows, events[:99])
    assert windows.evaluate(KEY, reference) == []
    _feed(windows, events[99:120])
    [partial] = windows.evaluate(KEY, reference)
    assert not partial.complete and partial.size == 120 and partial.drift is None
    assert partial.feature_psi["area"] >= 0
    assert windows.evaluate(KEY, reference) == []  # nothing new: no second look

    # Once a full window exists, partial windows no longer move the gauges.
    _feed(windows, events[120:])
    reports = windows.evaluate(KEY, reference)
    assert [(r.complete, r.size) for r in reports] == [(True, SIZE)]
    state = windows.state(KEY)
    assert state is not None and len(state.pending) == 150


def test_predictions_wait_for_their_reference_within_a_bound(
    reference: ReferenceStatistics, make_predictions: MakePredictions
) -> None:
    windows = DriftWindows(WindowPolicy(window_size=100, min_window=50, max_pending_windows=2))
    _feed(windows, make_predictions(250, seed=1))
    state = windows.state(KEY)
    assert state is not None and len(state.pending) == 200 and state.dropped == 50

    reports = windows.evaluate(KEY, reference)
    assert [(r.complete, r.size) for r in reports] == [(True, 100), (True, 100)]


def test_versions_have_separate_windows(
    windows: DriftWindows, reference: ReferenceStatistics, make_predictions: MakePredictions
) -> None:
    for event in make_predictions(SIZE, seed=1, model_version=2):
        windows.add(("house-prices", 2), Observation.of(event))
    assert windows.evaluate(KEY, reference) == []
    [report] = windows.evaluate(("house-prices", 2), reference)
    assert report.model_version == 2 and report.complete
