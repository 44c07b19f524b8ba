"""A classification spec trains a classifier: ONNX probabilities without ZipMap that match
sklearn's, the scores people watch, and a card naming the target and the classes."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from contracts import DatasetSpec
from services.trainer.classifier_onnx import onnx_classify
from services.trainer.estimators import build_pipeline
from services.trainer.holdout import is_held_out, split_holdout
from services.trainer.snapshot import Snapshot
from services.trainer.training import (
    ESTIMATORS,
    EstimatorName,
    ModelRefusedError,
    TrainedModel,
    TrainingError,
    TrainingOptions,
    train_model,
    validate_hyperparameters,
)
from tests.unit.trainer.classifier_samples import breast_cancer, iris

# Small models: the tests are about the plumbing, not the fit.
SMALL: dict[EstimatorName, dict[str, int]] = {
    "linear": {},
    "random_forest": {"n_estimators": 10},
    "hist_gradient_boosting": {"max_iter": 15},
}
DATA_SETS = {"iris": iris, "breast-cancer": lambda: breast_cancer(rows=300)}


def options(estimator: EstimatorName, **changes: Any) -> TrainingOptions:
    """Our small model of `estimator`, with `changes` (hyperparameters over the small ones)."""
    hyperparameters = SMALL[estimator] | changes.pop("hyperparameters", {})
    return TrainingOptions(estimator=estimator, hyperparameters=hyperparameters, **changes)


@pytest.fixture(scope="module", params=sorted(DATA_SETS))
def data(request: pytest.FixtureRequest) -> tuple[DatasetSpec, Snapshot]:
    return DATA_SETS[request.param]()


@pytest.fixture(scope="module", params=ESTIMATORS)
def trained(
    request: pytest.FixtureRequest, data: tuple[DatasetSpec, Snapshot]
) -> tuple[DatasetSpec, Snapshot, TrainedModel]:
    spec, snapshot = data
    return spec, snapshot, train_model(snapshot, spec, spec.name, options(request.param))


def holdout_of(spec: DatasetSpec, snapshot: Snapshot) -> tuple[pd.DataFrame, np.ndarray]:
    """(features frame, true classes) of the run's stratified holdout."""
    labels = list(snapshot.frame[spec.target.name])
    split = split_holdout(snapshot.frame, snapshot.record_ids, 0.2, labels)
    return split.holdout, split.holdout[spec.target.name].to_numpy(dtype=object)


def test_the_onnx_outputs_are_string_labels_and_a_float_probability_tensor(
    trained: tuple[DatasetSpec, Snapshot, TrainedModel],
) -> None:
    _, _, model = trained
    session = ort.InferenceSession(model.onnx, providers=["CPUExecutionProvider"])
    outputs = [(o.name, o.type, o.shape) for o in session.get_outputs()]
    classes = model.card.classes
    assert classes is not None
    assert outputs == [
        ("label", "tensor(string)", [None]),
        ("probabilities", "tensor(float)", [None, len(classes)]),
    ]
    operators = {node.op_type for node in onnx.load_from_string(model.onnx).graph.node}
    assert "ZipMap" not in operators


def test_onnx_probabilities_match_sklearn_on_the_holdout(
    trained: tuple[DatasetSpec, Snapshot, TrainedModel],
) -> None:
    spec, snapshot, model = trained
    holdout, _ = holdout_of(spec, snapshot)
    estimator = next(e for e in ESTIMATORS if e == model.card.estimator)
    pipeline = build_pipeline(spec, estimator, 0, 1, SMALL[estimator])
    train = snapshot.frame.drop(index=holdout.index)
    with threadpool_limits(limits=1):  # as the trainer fits: OpenMP threads spin on a busy CPU
        pipeline.fit(train[spec.feature_names], train[spec.target.name].to_numpy(dtype=object))
    served = onnx_classify(model.onnx, holdout, spec)
    expected = pipeline.predict_proba(holdout[spec.feature_names])
    assert tuple(pipeline.classes_) == model.card.classes
    assert np.abs(served.probabilities - expected).max() < 1e-5
    assert list(served.labels) == list(pipeline.predict(holdout[spec.feature_names]))
    assert model.card.metrics.parity_max_abs_error < 1e-5
    assert model.card.metrics.parity_tolerance == 1e-3


def test_the_card_scores_the_holdout_as_sklearn_does(
    trained: tuple[DatasetSpec, Snapshot, TrainedModel],
) -> None:
    spec, snapshot, model = trained
    target = spec.classification
    assert target is not None
    holdout, truth = holdout_of(spec, snapshot)
    served = onnx_classify(model.onnx, holdout, spec)
    classes = list(model.card.classes or ())
    metrics = model.card.metrics
    assert (metrics.task, metrics.metric) == ("classification", "log_loss")
    assert (metrics.rmse, metrics.mae, metrics.r2) == (None, None, None)
    assert metrics.holdout_size == len(holdout)
    probabilities = served.probabilities[:, [classes.index(c) for c in target.classes]]
    probabilities /= probabilities.sum(axis=1, keepdims=True)  # float32 sums drift by 1e-7
    assert metrics.log_loss == pytest.approx(
        log_loss(truth, probabilities, labels=target.classes), abs=1e-4
    )
    assert (metrics.log_loss or math.inf) < math.log(
        len(classes)
    ) / 2  # far better than a uniform guess
    assert (metrics.accuracy or 0) > 0.85
    assert (metrics.macro_f1 or 0) > 0.85
    if target.is_binary:
        positive = served.probabilities[:, classes.index(target.positive)]
        decided = np.where(positive >= target.threshold, target.positive, "benign")
        assert metrics.accuracy == pytest.approx(accuracy_score(truth, decided))
        assert metrics.macro_f1 == pytest.approx(f1_score(truth, decided, average="macro"))
        assert metrics.roc_auc == pytest.approx(roc_auc_score(truth == target.positive, positive))
        assert (metrics.roc_auc or 0) > 0.9
    else:
        assert metrics.accuracy == pytest.approx(accuracy_score(truth, served.labels))
        assert metrics.roc_auc is None


def test_the_card_carries_the_target_and_the_class_of_each_probability_column(
    trained: tuple[DatasetSpec, Snapshot, TrainedModel],
) -> None:
    spec, _, model = trained
    assert model.card.target == spec.target
    assert model.card.is_classifier
    assert set(model.card.classes or ()) == set(spec.classification.classes)  # type: ignore[union-attr]
    assert model.card.metrics.hyperparameters is not None
    assert model.card.metrics.hyperparameters["class_weight"] == "balanced"


def test_the_spec_names_the_metric_promotion_compares_by() -> None:
    spec, snapshot = iris(metric="macro_f1")
    model = train_model(snapshot, spec, "iris", options("linear"))
    assert model.card.metrics.metric == "macro_f1"
    assert model.card.metrics.loss() == pytest.approx(1 - (model.card.metrics.macro_f1 or 0))


def test_hyperparameters_override_the_class_weight_setting() -> None:
    spec, snapshot = iris()
    unweighted = options("linear", hyperparameters={"class_weight": None, "C": 0.5})
    recorded = train_model(snapshot, spec, "iris", unweighted).card.metrics.hyperparameters
    assert recorded is not None
    assert (recorded["class_weight"], recorded["C"]) == (None, 0.5)
    setting = train_model(snapshot, spec, "iris", options("linear", class_weight=None))
    assert setting.card.metrics.hyperparameters["class_weight"] is None  # type: ignore[index]


def test_hyperparameters_are_checked_against_the_classifier() -> None:
    validate_hyperparameters("linear", {"C": 2.0}, "classification")
    with pytest.raises(ValueError, match="has no hyperparameters"):
        validate_hyperparameters("linear", {"alpha": 2.0}, "classification")
    with pytest.raises(ValueError, match="has no hyperparameters"):
        validate_hyperparameters("linear", {"C": 2.0})  # Ridge has alpha, not C


def test_probabilities_beyond_the_tolerance_refuse_the_model() -> None:
    spec, snapshot = iris()
    strict = options("random_forest", probability_tolerance=1e-12)
    with pytest.raises(ModelRefusedError, match="probabilities differ"):
        train_model(snapshot, spec, "iris", strict)


def test_training_rows_of_one_class_raise_a_training_error() -> None:
    spec, snapshot = breast_cancer(rows=60)
    frame = snapshot.frame.copy()
    frame[spec.target.name] = "benign"
    # One malignant record, held out: a lone record is not moved by the stratification.
    held = next(i for i, r in enumerate(snapshot.record_ids) if is_held_out(r, 0.2))
    frame.loc[frame.index[held], spec.target.name] = "malignant"
    one_class = Snapshot(frame, snapshot.size, snapshot.fingerprint, None, snapshot.record_ids)
    with pytest.raises(TrainingError, match="one class only"):
        train_model(one_class, spec, "bc", options("linear"))
