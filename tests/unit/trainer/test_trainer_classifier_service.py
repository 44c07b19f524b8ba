"""The trainer service with a classification spec: settings, runs, champion download, and
the check that skips a run repeating the latest version."""

from __future__ import annotations

from dataclasses import replace

import pytest
from prometheus_client import CollectorRegistry

from services.trainer.coordinator import TrainingCoordinator
from services.trainer.metrics import TrainerMetrics
from services.trainer.snapshot import take_snapshot
from services.trainer.training import TrainedModel, TrainingOptions, train_model
from services.trainer.unchanged import repeats
from tests.unit.trainer.classifier_samples import iris_records
from tests.unit.trainer.test_trainer_coordinator import FakeUploader
from tests.unit.trainer.test_trainer_registry_client import champion_registry, client
from tests.unit.trainer.trainer_samples import trainer_settings


def test_classifier_settings_reach_the_training_options() -> None:
    spec, _ = iris_records()
    settings = trainer_settings(
        spec=spec,
        estimator="linear",
        hyperparameters={"C": 0.5},
        class_weight="none",
        probability_parity_tolerance=1e-4,
    )
    options = settings.training_options
    assert (options.class_weight, options.probability_tolerance) == (None, 1e-4)
    assert trainer_settings(spec=spec).training_options.class_weight == "balanced"


def test_hyperparameters_are_checked_against_the_specs_kind_of_estimator() -> None:
    spec, _ = iris_records()
    with pytest.raises(ValueError, match="has no hyperparameters"):
        trainer_settings(spec=spec, estimator="linear", hyperparameters={"alpha": 2.0})
    with pytest.raises(ValueError, match="class_weight"):
        trainer_settings(spec=spec, class_weight="heavy")


async def test_a_classifier_run_is_uploaded_and_reported_by_the_specs_metric() -> None:
    spec, records = iris_records(metric="accuracy")
    settings = trainer_settings(spec=spec, estimator="linear", min_records=50, retrain_every=150)
    registry, uploader = CollectorRegistry(), FakeUploader()
    coordinator = TrainingCoordinator(settings, uploader, TrainerMetrics(registry))
    coordinator.add_records(records)
    await coordinator.runs.wait_idle()
    [(_, card)] = uploader.uploads
    assert card.classes == ("setosa", "versicolor", "virginica")
    result = coordinator.status()["last_result"]
    assert result["outcome"] == "uploaded"
    assert (result["metric"], result["score"], result["rmse"]) == (
        "accuracy",
        card.metrics.accuracy,
        None,
    )
    model = {"model": card.model_name}
    assert registry.get_sample_value(
        "mlbus_trainer_last_score", model | {"metric": "accuracy"}
    ) == (card.metrics.accuracy)
    assert registry.get_sample_value("mlbus_trainer_last_rmse", model) is None  # never set


@pytest.fixture(scope="module")
def classifier() -> TrainedModel:
    spec, records = iris_records()
    options = TrainingOptions(estimator="linear")
    return train_model(take_snapshot(records, spec), spec, "house-prices", options)


async def test_the_champion_downloaded_names_its_classes(classifier: TrainedModel) -> None:
    champion = await client(champion_registry(classifier)).champion("house-prices")
    assert champion is not None
    assert champion.classes == ("setosa", "versicolor", "virginica")
    assert champion.holdout_fraction == 0.2


def test_a_classifier_run_repeats_only_a_classifier_with_the_same_options(
    classifier: TrainedModel,
) -> None:
    spec, records = iris_records()
    fingerprint = take_snapshot(records, spec).fingerprint
    options = TrainingOptions(estimator="linear")
    card = classifier.card
    assert repeats(card, fingerprint, options, "classification")
    assert not repeats(card, fingerprint, options)  # a regression run: another model
    assert not repeats(card, fingerprint, replace(options, class_weight=None), "classification")
