"""A classifier's scores from probabilities as ONNX gives them (float32, a class missing)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import log_loss

from contracts import ClassificationTarget
from services.trainer.classifier_scores import ClassProbabilities, classification_scores, score

BINARY = ClassificationTarget(name="fraud", classes=("no", "yes"), threshold=0.3)
THREE = ClassificationTarget(name="kind", classes=("a", "b", "c"))


def test_float32_drift_beyond_zero_and_one_is_scored_not_refused() -> None:
    # A forest's float32 sums: 1.0000001 beside 0, or -1e-7 beside 1.
    drifted = np.array([[1.0000001192092896, 0.0], [-1e-7, 1.0], [0.4, 0.6000001]])
    probabilities = ClassProbabilities(drifted, ("no", "yes"), BINARY)
    assert probabilities.values.min() >= 0
    assert probabilities.values.max() <= 1
    assert probabilities.values.sum(axis=1) == pytest.approx(1.0)
    truth = np.array(["no", "yes", "yes"], dtype=object)
    assert classification_scores(truth, probabilities)["log_loss"] == pytest.approx(
        log_loss(truth, [[1, 0], [0, 1], [0.4, 0.6]]), abs=1e-6
    )


def test_a_class_the_model_never_saw_has_probability_zero() -> None:
    seen = np.array([[0.9, 0.1], [0.2, 0.8]])  # a model trained on "c" and "a" only
    probabilities = ClassProbabilities(seen, ("c", "a"), THREE)
    assert probabilities.classes == ("a", "b", "c")
    assert probabilities.values.tolist() == [[0.1, 0.0, 0.9], [0.8, 0.0, 0.2]]
    truth = np.array(["b", "a"], dtype=object)  # "b" cannot be predicted: a large but finite loss
    scores = classification_scores(truth, probabilities)
    assert scores["accuracy"] == 0.5
    assert 5 < scores["log_loss"] < 40
    assert scores["roc_auc"] is None


def test_a_binary_target_decides_by_its_threshold_and_scores_roc_auc() -> None:
    probabilities = ClassProbabilities(
        np.array([[0.75, 0.25], [0.65, 0.35]]), ("no", "yes"), BINARY
    )
    assert probabilities.decide().tolist() == ["no", "yes"]  # 0.35 reaches 0.3
    truth = np.array(["no", "yes"], dtype=object)
    assert score("accuracy", truth, probabilities) == 1.0
    assert score("roc_auc", truth, probabilities) == 1.0
    one_row = ClassProbabilities(np.array([[0.75, 0.25]]), ("no", "yes"), BINARY)
    assert score("roc_auc", truth[:1], one_row) is None  # needs both classes


def test_classes_the_spec_lists_out_of_alphabetical_order_are_scored() -> None:
    target = ClassificationTarget(name="outcome", classes=("stay", "leave"))
    probabilities = ClassProbabilities(
        np.array([[0.8, 0.2], [0.3, 0.7]]), ("stay", "leave"), target
    )
    truth = np.array(["stay", "leave"], dtype=object)
    expected = log_loss(["stay", "leave"], [[0.2, 0.8], [0.7, 0.3]], labels=["leave", "stay"])
    assert classification_scores(truth, probabilities)["log_loss"] == pytest.approx(expected)
