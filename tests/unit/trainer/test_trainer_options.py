"""Hyperparameters, seeds and the champion scored on this run's holdout."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any, get_args

import pytest

from contracts import HOUSE_PRICES, TrainModel
from services.trainer.selection import SnapshotSelection, select
from services.trainer.snapshot import Snapshot, take_snapshot
from services.trainer.training import (
    ESTIMATORS,
    Champion,
    TrainedModel,
    TrainingOptions,
    make_estimator,
    score_champion,
    split_holdout,
    train_model,
    validate_hyperparameters,
)
from tests.unit.trainer.test_trainer_training import MIXED
from tests.unit.trainer.trainer_samples import labelled_records


@pytest.fixture(scope="module")
def snapshot() -> Snapshot:
    records, params = select(labelled_records(600, seed=3), SnapshotSelection(), datetime.now(UTC))
    return take_snapshot(records, HOUSE_PRICES, params)


@pytest.fixture(scope="module")
def linear(snapshot: Snapshot) -> TrainedModel:
    return train_model(snapshot, HOUSE_PRICES, "house-prices", TrainingOptions(estimator="linear"))


def metric(model: TrainedModel, name: str) -> Any:
    return getattr(model.card.metrics, name)


def test_the_command_offers_exactly_the_trainers_estimators() -> None:
    annotation = TrainModel.model_fields["estimator"].annotation
    assert set(get_args(get_args(annotation)[0])) == set(ESTIMATORS)


def test_hyperparameters_override_the_defaults_and_are_recorded(snapshot: Snapshot) -> None:
    options = TrainingOptions(
        estimator="hist_gradient_boosting", hyperparameters={"max_iter": 7, "learning_rate": 0.3}
    )
    model = train_model(snapshot, HOUSE_PRICES, "house-prices", options)
    recorded = metric(model, "hyperparameters")
    assert recorded["max_iter"] == 7
    assert recorded["learning_rate"] == 0.3
    assert recorded["random_state"] == 0
    assert metric(model, "seed") == 0
    assert model.card.estimator == "hist_gradient_boosting"


def test_the_card_records_the_snapshot_parameters(snapshot: Snapshot, linear: TrainedModel) -> None:
    assert snapshot.parameters is not None
    assert metric(linear, "snapshot") == snapshot.parameters.as_json()
    assert metric(linear, "snapshot")["mode"] == "all"
    assert metric(linear, "training_seconds") > 0
    assert {"rmse", "mae", "r2"} <= set(linear.card.metrics.model_dump())


@pytest.mark.parametrize(
    ("estimator", "hyperparameters", "message"),
    [
        ("random_forest", {"max_iter": 3}, "has no hyperparameters"),
        ("linear", {"random_state": 3}, "set by the trainer"),
        ("hist_gradient_boosting", {"n_jobs": 2}, "set by the trainer"),
        ("random_forest", {"n_estimators": -1}, "n_estimators"),
        ("hist_gradient_boosting", {"learning_rate": "fast"}, "learning_rate"),
    ],
)
def test_invalid_hyperparameters_fail_before_any_run(
    estimator: Any, hyperparameters: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        validate_hyperparameters(estimator, hyperparameters)


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_seeds_make_every_estimator_reproducible(snapshot: Snapshot, estimator: Any) -> None:
    options = TrainingOptions(estimator=estimator, seed=5, hyperparameters=_small(estimator))
    first = train_model(snapshot, HOUSE_PRICES, "house-prices", options)
    second = train_model(snapshot, HOUSE_PRICES, "house-prices", options)
    assert first.onnx == second.onnx
    assert first.card.metrics.rmse == second.card.metrics.rmse


def _small(estimator: Any) -> dict[str, Any]:
    return {"random_forest": {"n_estimators": 5}, "hist_gradient_boosting": {"max_iter": 10}}.get(
        estimator, {}
    )


def test_the_champion_is_scored_on_this_runs_holdout(
    snapshot: Snapshot, linear: TrainedModel
) -> None:
    """Scoring the linear model as champion of a run with the same split gives its own RMSE
    (float32 ONNX vs float64 sklearn), and the challenger's metrics are its own."""
    champion = Champion(version=4, onnx=linear.onnx)
    options = TrainingOptions(estimator="hist_gradient_boosting", hyperparameters={"max_iter": 20})
    model = train_model(snapshot, HOUSE_PRICES, "house-prices", options, champion)
    metrics = model.card.metrics
    assert metrics.champion_version == 4
    assert metrics.champion_rmse == pytest.approx(linear.card.metrics.rmse, rel=1e-5)
    assert metrics.rmse != metrics.champion_rmse


def test_a_champion_whose_inputs_do_not_fit_is_skipped(snapshot: Snapshot) -> None:
    other = train_model(
        take_snapshot(labelled_records(100, spec=MIXED), MIXED),
        MIXED,
        "mixed",
        TrainingOptions(estimator="linear"),
    )
    holdout = split_holdout(snapshot.frame, snapshot.record_ids, 0.2).holdout
    assert score_champion(Champion(1, other.onnx), holdout, HOUSE_PRICES) is None
    assert score_champion(Champion(1, b"not onnx"), holdout, HOUSE_PRICES) is None
    model = train_model(
        snapshot, HOUSE_PRICES, "house-prices", TrainingOptions("linear"), Champion(2, b"junk")
    )
    assert model.card.metrics.champion_version is None
    assert model.card.metrics.champion_rmse is None
    assert math.isfinite(model.card.metrics.rmse or math.nan)


def test_make_estimator_applies_the_seed_and_threads() -> None:
    forest = make_estimator("random_forest", seed=9, threads=2, hyperparameters={"max_depth": 4})
    assert (forest.random_state, forest.n_jobs, forest.max_depth) == (9, 2, 4)


def test_deep_boosted_trees_keep_parity_on_the_whole_holdout() -> None:
    """The default estimator with large trees and many iterations: float32 ONNX thresholds
    must still agree with sklearn on every holdout row (the converter fix in onnx_export)."""
    records, params = select(labelled_records(2000, seed=8), SnapshotSelection(), datetime.now(UTC))
    options = TrainingOptions(
        hyperparameters={"max_iter": 150, "max_leaf_nodes": 63, "learning_rate": 0.2}
    )
    model = train_model(take_snapshot(records, HOUSE_PRICES, params), HOUSE_PRICES, "h", options)
    assert model.card.estimator == "hist_gradient_boosting"  # the default
    snapshot = take_snapshot(records, HOUSE_PRICES, params)
    held_out = split_holdout(snapshot.frame, snapshot.record_ids, 0.2).holdout
    assert metric(model, "holdout_size") == len(held_out)
    assert metric(model, "parity_max_rel_error") <= 1e-5
