"""Live classification scores: the same figures as scikit-learn on the same rows."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import rankdata
from sklearn import metrics as sk

from services.monitor.class_scores import (
    ReliabilityBin,
    average_ranks,
    expected_calibration_error,
)
from services.monitor.class_window import ClassScores, ClassWindow
from tests.support.class_samples import BINARY, MULTICLASS, Classified, classify


def _window(sample: Classified, classes: tuple[str, ...], size: int) -> ClassWindow:
    window = ClassWindow(classes, size, positive=classes[-1] if len(classes) == 2 else None)
    for event, record in zip(sample.events, sample.labels, strict=True):
        assert window.add(str(record.target), event.prediction, event.probabilities)
    return window


def _scores(window: ClassWindow) -> ClassScores:
    scores = window.scores()
    assert scores is not None
    return scores


def _assert_like_sklearn(
    scores: ClassScores, labels: np.ndarray, predicted: np.ndarray, probabilities: np.ndarray
) -> None:
    indexes = list(range(probabilities.shape[1]))
    assert scores.accuracy == pytest.approx(sk.accuracy_score(labels, predicted))
    assert scores.log_loss == pytest.approx(sk.log_loss(labels, probabilities, labels=indexes))
    assert scores.macro_f1 == pytest.approx(sk.f1_score(labels, predicted, average="macro"))
    recall = sk.recall_score(labels, predicted, average=None, labels=indexes)
    precision = sk.precision_score(labels, predicted, average=None, labels=indexes)
    assert list(scores.recall.values()) == pytest.approx(recall.tolist())
    assert list(scores.precision.values()) == pytest.approx(precision.tolist())


def test_multiclass_scores_match_scikit_learn() -> None:
    sample = classify(600, seed=3, classes=MULTICLASS)
    scores = _scores(_window(sample, MULTICLASS, size=1000))
    _assert_like_sklearn(
        scores, sample.label_indexes, sample.predicted_indexes, sample.probabilities
    )
    assert scores.count == 600
    assert not scores.complete
    assert math.isnan(scores.roc_auc)
    assert "roc_auc" not in scores.as_dict()
    assert scores.calibrated == "top class"


def test_binary_scores_and_roc_auc_with_ties_match_scikit_learn() -> None:
    sample = classify(500, seed=4, threshold=0.3)
    # Rounded probabilities tie often: the AUC must count ties as half, as scikit-learn does.
    rounded = np.round(sample.probabilities, 1)
    for event, row in zip(sample.events, rounded, strict=True):
        event.probabilities.update(zip(BINARY, row.tolist(), strict=True))
    scores = _scores(_window(sample, BINARY, size=1000))
    _assert_like_sklearn(scores, sample.label_indexes, sample.predicted_indexes, rounded)
    expected_auc = sk.roc_auc_score(sample.label_indexes == 1, rounded[:, 1])
    assert scores.roc_auc == pytest.approx(expected_auc)
    assert scores.calibrated == "yes"


def test_the_window_scores_only_the_latest_rows() -> None:
    sample = classify(700, seed=5, classes=MULTICLASS)
    scores = _scores(_window(sample, MULTICLASS, size=250))
    latest = slice(700 - 250, None)
    _assert_like_sklearn(
        scores,
        sample.label_indexes[latest],
        sample.predicted_indexes[latest],
        sample.probabilities[latest],
    )
    assert (scores.count, scores.complete) == (250, True)


def test_a_class_the_model_does_not_know_is_not_scored() -> None:
    window = ClassWindow(BINARY, 10)
    assert not window.add("maybe", "yes", {"no": 0.4, "yes": 0.6})
    assert window.scores() is None


def test_recall_and_precision_of_a_class_without_rows_are_nan() -> None:
    window = ClassWindow(MULTICLASS, 10)
    window.add("low", "low", {"low": 0.7, "mid": 0.2, "high": 0.1})
    window.add("mid", "low", {"low": 0.5, "mid": 0.4, "high": 0.1})
    scores = _scores(window)
    assert math.isnan(scores.recall["high"])
    assert math.isnan(scores.precision["mid"])
    assert scores.recall["low"] == 1.0
    assert scores.precision["low"] == 0.5
    # F1 over the classes present (low: 2/3, mid: 0), as scikit-learn's default.
    assert scores.macro_f1 == pytest.approx(1 / 3)


def test_binary_ece_on_a_hand_made_example() -> None:
    window = ClassWindow(BINARY, 100, positive="yes")
    rows = [(0.25, "yes")] + [(0.25, "no")] * 3  # bin 0.2-0.3: 25% predicted, 25% observed
    rows += [(0.85, "yes")] * 2 + [(0.85, "no")] * 2  # bin 0.8-0.9: 85% predicted, 50%
    rows += [(1.0, "yes")] * 2  # the last bin holds 1.0: 100% predicted, 100% observed
    for p, label in rows:
        window.add(label, "yes" if p >= 0.5 else "no", {"no": 1 - p, "yes": p})
    scores = _scores(window)
    assert scores.ece == pytest.approx(4 / 10 * 0.35)
    assert [(b.lower, b.count) for b in scores.reliability] == [(0.2, 4), (0.8, 4), (0.9, 2)]
    assert [b.observed for b in scores.reliability] == pytest.approx([0.25, 0.5, 1.0])
    assert [b.predicted for b in scores.reliability] == pytest.approx([0.25, 0.85, 1.0])


def test_multiclass_ece_looks_at_the_top_class() -> None:
    window = ClassWindow(MULTICLASS, 100)
    # Top probability 0.6 twice (one right), 0.9 once (right): |0.5 - 0.6| * 2/3 + |1 - 0.9| / 3.
    window.add("low", "low", {"low": 0.6, "mid": 0.3, "high": 0.1})
    window.add("mid", "low", {"low": 0.6, "mid": 0.3, "high": 0.1})
    window.add("high", "high", {"low": 0.05, "mid": 0.05, "high": 0.9})
    assert _scores(window).ece == pytest.approx(2 / 3 * 0.1 + 1 / 3 * 0.1)


def test_a_calibrated_model_has_a_small_ece_and_a_shifted_one_a_large_ece() -> None:
    sample = classify(2000, seed=6)
    calibrated = _scores(_window(sample, BINARY, size=2000)).ece
    overconfident = ClassWindow(BINARY, 2000, positive="yes")
    for event, record in zip(sample.events, sample.labels, strict=True):
        p = event.probabilities["yes"]
        sharpened = p**3 / (p**3 + (1 - p) ** 3)
        sharper = {"no": 1 - sharpened, "yes": sharpened}
        overconfident.add(str(record.target), event.prediction, sharper)
    assert calibrated < 0.04
    assert _scores(overconfident).ece > 0.08


def test_ece_of_no_rows_is_nan() -> None:
    assert math.isnan(expected_calibration_error([]))
    assert expected_calibration_error([ReliabilityBin(0.0, 0.1, 3, 0.05, 0.0)]) == 0.05


def test_average_ranks_match_scipys_rankdata_with_ties() -> None:
    rng = np.random.default_rng(0)
    for size in (1, 2, 7, 50):
        values = np.round(rng.random(size), 1)  # many ties
        assert average_ranks(values).tolist() == pytest.approx(rankdata(values).tolist())
