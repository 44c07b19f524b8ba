"""Pipelines, ONNX conversion with parity, refusal, and the model card of a run."""

from __future__ import annotations

import math

import numpy as np
import onnxruntime as ort
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from contracts import (
    HOUSE_PRICES,
    BooleanFeature,
    DatasetSpec,
    IntegerFeature,
    ModelCard,
    NumericFeature,
    RegressionTarget,
)
from services.trainer.holdout import is_held_out
from services.trainer.onnx_export import onnx_predict
from services.trainer.snapshot import Snapshot, model_frame, take_snapshot
from services.trainer.training import (
    ESTIMATORS,
    EstimatorName,
    TrainedModel,
    TrainingError,
    TrainingOptions,
    build_pipeline,
    split_holdout,
    train_model,
)
from tests.unit.trainer.trainer_samples import labelled_records


@pytest.fixture(scope="module")
def snapshot() -> Snapshot:
    return take_snapshot(labelled_records(1000, seed=11), HOUSE_PRICES)


@pytest.fixture(scope="module")
def trained(snapshot: Snapshot) -> dict[EstimatorName, TrainedModel]:
    """One model per estimator on the same 1000 generated records."""
    return {
        name: train_model(snapshot, HOUSE_PRICES, "house-prices", TrainingOptions(estimator=name))
        for name in ESTIMATORS
    }


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_pipeline_one_hot_encodes_categories_and_scales_only_for_linear(
    estimator: EstimatorName,
) -> None:
    pipeline = build_pipeline(HOUSE_PRICES, estimator)
    columns = pipeline.named_steps["features"]
    assert isinstance(columns, ColumnTransformer)
    by_name = {name: (step, cols) for name, step, cols in columns.transformers}
    numbers, number_columns = by_name["numbers"]
    encoder, category_columns = by_name["categories"]
    assert number_columns == ["area", "bedrooms", "bathrooms", "stories", "parking"]
    assert "furnishingstatus" in category_columns
    assert "mainroad" in category_columns
    assert isinstance(encoder, OneHotEncoder)
    assert encoder.handle_unknown == "ignore"
    scaled = any(isinstance(step, StandardScaler) for _, step in numbers.steps)
    assert scaled == (estimator == "linear")


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_onnx_agrees_with_sklearn_on_the_holdout(
    trained: dict[EstimatorName, TrainedModel], snapshot: Snapshot, estimator: EstimatorName
) -> None:
    model = trained[estimator]
    metrics = model.card.metrics
    assert metrics.holdout_size == held_out(snapshot)
    assert metrics.parity_spread_error is not None
    assert metrics.parity_spread_error <= 1e-5
    assert 0 <= metrics.parity_max_abs_error < 10.0  # prices are in the millions
    assert metrics.r2 is not None
    assert metrics.rmse is not None
    assert metrics.mae is not None
    assert metrics.r2 > 0.6  # the generated price is mostly a function of the features
    assert metrics.rmse > 0
    assert metrics.mae > 0
    assert metrics.mae <= metrics.rmse
    # The ONNX model predicts for any rows in the same frame layout, not just the holdout.
    predictions = onnx_predict(model.onnx, snapshot.frame.head(5), HOUSE_PRICES)
    assert predictions.shape == (5,)
    assert np.all(np.isfinite(predictions))


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_onnx_layout_is_one_column_input_per_feature(
    trained: dict[EstimatorName, TrainedModel], estimator: EstimatorName
) -> None:
    session = ort.InferenceSession(trained[estimator].onnx, providers=["CPUExecutionProvider"])
    inputs = {i.name: (i.type, i.shape) for i in session.get_inputs()}
    assert list(inputs) == HOUSE_PRICES.feature_names
    assert inputs["area"] == ("tensor(float)", [None, 1])
    assert inputs["bedrooms"] == ("tensor(float)", [None, 1])
    assert inputs["furnishingstatus"] == ("tensor(string)", [None, 1])
    card_inputs = {i.name: i.type for i in trained[estimator].card.inputs}
    assert card_inputs == {
        name: "string" if kind == "tensor(string)" else "float"
        for name, (kind, _) in inputs.items()
    }
    output = session.get_outputs()[0]
    assert output.type == "tensor(float)"
    assert output.shape[-1] in (1, None)


def test_unknown_categories_are_ignored_by_the_onnx_model(
    trained: dict[EstimatorName, TrainedModel], snapshot: Snapshot
) -> None:
    row = snapshot.frame.head(1).copy()
    row["furnishingstatus"] = "palatial"
    prediction = onnx_predict(trained["random_forest"].onnx, row, HOUSE_PRICES)
    assert np.isfinite(prediction).all()


def test_model_card_records_the_snapshot_and_survives_json(
    trained: dict[EstimatorName, TrainedModel], snapshot: Snapshot
) -> None:
    card = trained["random_forest"].card
    assert card.model_name == "house-prices"
    assert card.dataset == "house-prices"
    assert card.estimator == "random_forest"
    assert card.snapshot_fingerprint == snapshot.fingerprint
    assert card.snapshot_size == 1000
    assert ModelCard.model_validate_json(card.model_dump_json()) == card


def test_training_is_deterministic(snapshot: Snapshot) -> None:
    options = TrainingOptions(estimator="random_forest", seed=3)
    first = train_model(snapshot, HOUSE_PRICES, "house-prices", options)
    second = train_model(snapshot, HOUSE_PRICES, "house-prices", options)
    assert first.card.metrics.rmse == second.card.metrics.rmse
    assert first.onnx == second.onnx


def held_out(snapshot: Snapshot, fraction: float = 0.2) -> int:
    return sum(is_held_out(record_id, fraction) for record_id in snapshot.record_ids)


def test_the_holdout_is_about_twenty_percent_of_records_chosen_by_their_ids(
    snapshot: Snapshot,
) -> None:
    split = split_holdout(snapshot.frame, snapshot.record_ids, 0.2)
    assert 170 <= len(split.holdout) <= 230
    assert len(split.train) + len(split.holdout) == 1000
    assert set(split.train.index).isdisjoint(split.holdout.index)
    assert split.holdout_ids == tuple(r for r in snapshot.record_ids if is_held_out(r, 0.2))
    # Another snapshot holding some of the same records holds out the same ones of them.
    half = take_snapshot(labelled_records(1000, seed=11)[::2], HOUSE_PRICES)
    other = split_holdout(half.frame, half.record_ids, 0.2)
    assert set(other.holdout_ids) == set(split.holdout_ids) & set(half.record_ids)


@pytest.mark.parametrize("tolerance", [-1.0, 0.0])
def test_a_model_above_the_parity_tolerance_is_refused(
    snapshot: Snapshot, tolerance: float
) -> None:
    """Tree-ensemble sums in float32 always differ a little from sklearn's float64."""
    options = TrainingOptions(estimator="random_forest", parity_tolerance=tolerance)
    with pytest.raises(TrainingError, match="model refused: onnx and sklearn disagree"):
        train_model(snapshot, HOUSE_PRICES, "house-prices", options)


def test_too_few_records_raise_a_training_error() -> None:
    tiny = take_snapshot(labelled_records(5), HOUSE_PRICES)
    with pytest.raises(TrainingError, match="too few"):
        train_model(tiny, HOUSE_PRICES, "house-prices", TrainingOptions())


MIXED = DatasetSpec(
    name="mixed",
    target=RegressionTarget(name="y"),
    features=(
        NumericFeature(name="x", min=0, max=10, nullable=True),
        IntegerFeature(name="n", min=0, max=5),
        BooleanFeature(name="flag", nullable=True),
        HOUSE_PRICES.feature("furnishingstatus").model_copy(update={"nullable": True}),
    ),
)


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_any_spec_with_missing_values_converts_with_parity(estimator: EstimatorName) -> None:
    records = labelled_records(400, spec=MIXED, seed=5)
    # Every 7th record misses its nullable values, as ingest passes them on (None).
    holes = {"x": None, "flag": None, "furnishingstatus": None}
    records = [
        r.model_copy(update={"features": r.features | holes}) if i % 7 == 0 else r
        for i, r in enumerate(records)
    ]
    model = train_model(
        take_snapshot(records, MIXED), MIXED, "mixed", TrainingOptions(estimator=estimator)
    )
    assert (model.card.metrics.parity_spread_error or 0.0) <= 1e-5
    assert [(i.name, i.type) for i in model.card.inputs] == [
        ("x", "float"),
        ("n", "float"),
        ("flag", "float"),
        ("furnishingstatus", "string"),
    ]
    frame = model_frame([{"x": None, "n": 2, "flag": None, "furnishingstatus": None}], MIXED)
    assert math.isfinite(float(onnx_predict(model.onnx, frame, MIXED)[0]))
