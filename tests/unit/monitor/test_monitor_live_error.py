"""Late labels joined with predictions by record id: RMSE/MAE per version and role."""

from __future__ import annotations

import math

import numpy as np
import pytest

from services.monitor.live_error import ErrorWindow, LabelJoiner, Scored


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _champion(version: int, prediction: float) -> Scored:
    return Scored("house-prices", version, "champion", prediction)


def test_labels_after_predictions_give_rmse_and_mae_per_window() -> None:
    joiner = LabelJoiner(window_size=4)
    predictions = [10.0, 12.0, 9.0, 15.0, 20.0]
    targets = [11.0, 10.0, 9.0, 12.0, 0.0]
    joiner.add_predictions((f"r{i}", _champion(1, p)) for i, p in enumerate(predictions))
    touched = joiner.add_labels((f"r{i}", t) for i, t in enumerate(targets))
    assert touched == {("house-prices", 1, "champion")}

    window = joiner.windows[("house-prices", 1, "champion")]
    errors = np.array(predictions[:4]) - np.array(targets[:4])
    summary = window.current()
    assert summary is not None
    assert summary.complete
    assert summary.count == 4
    assert summary.rmse == pytest.approx(math.sqrt(np.mean(errors**2)))
    assert summary.mae == pytest.approx(np.mean(np.abs(errors)))
    assert window.count == 1  # the fifth error opened the next window
    assert joiner.counts.joined == 5
    assert joiner.buffered() == (0, 5)


def test_labels_before_predictions_and_shadows_after_labels_still_join() -> None:
    joiner = LabelJoiner(window_size=10)
    joiner.add_labels([("a", 100.0)])
    joiner.add_predictions([("a", _champion(1, 90.0))])
    joiner.add_predictions([("a", Scored("house-prices", 2, "shadow", 104.0))])
    champion = joiner.windows[("house-prices", 1, "champion")].current()
    shadow = joiner.windows[("house-prices", 2, "shadow")].current()
    assert champion is not None
    assert not champion.complete
    assert champion.rmse == 10.0
    assert shadow is not None
    assert shadow.mae == 4.0


def test_waiting_predictions_and_labels_expire_past_the_horizon() -> None:
    clock = Clock()
    joiner = LabelJoiner(horizon_seconds=60, clock=clock)
    joiner.add_predictions([("old", _champion(1, 1.0))])
    joiner.add_labels([("lonely", 5.0)])
    clock.now = 61
    joiner.add_predictions([("new", _champion(1, 1.0))])
    assert joiner.counts.expired_predictions == 1
    assert joiner.counts.expired_labels == 1
    joiner.add_labels([("old", 2.0)])  # too late: its prediction is gone
    assert joiner.counts.joined == 0
    assert joiner.buffered() == (1, 1)


def test_buffers_are_bounded_by_capacity() -> None:
    joiner = LabelJoiner(capacity=100)
    joiner.add_predictions((f"p{i}", _champion(1, 0.0)) for i in range(1000))
    joiner.add_labels((f"l{i}", 0.0) for i in range(1000))
    assert joiner.buffered() == (100, 100)
    assert joiner.counts.expired_predictions == 900
    assert joiner.counts.expired_labels == 900


def test_an_empty_error_window_has_no_summary() -> None:
    assert ErrorWindow(size=3).current() is None


def test_a_class_label_scores_a_classifier_and_a_number_a_regressor_only() -> None:
    joiner = LabelJoiner(window_size=10, class_window_size=10)
    classifier = Scored("churn", 1, "champion", "yes", {"no": 0.3, "yes": 0.7})
    joiner.add_predictions([("a", classifier), ("b", classifier), ("c", _champion(1, 5.0))])
    touched = joiner.add_labels([("a", "yes"), ("b", 1.0), ("c", "yes")])
    assert touched == {("churn", 1, "champion")}
    assert joiner.counts.joined == 1  # b and c: a number for a classifier, a class for a number
    assert joiner.windows == {}
    scores = joiner.classified[("churn", 1, "champion")].scores()
    assert scores is not None
    assert (scores.count, scores.accuracy) == (1, 1.0)
