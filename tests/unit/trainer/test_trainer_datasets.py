"""A coordinator per data set: learning data sets, holding their early records, routing events."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from contracts import DriftDetected, FeatureDrift, ModelCard, ModelVersion, TrainModel
from services.common.spec_catalogue import SpecCatalogue
from services.trainer.config import Settings
from services.trainer.coordinator import TrainingCoordinator
from services.trainer.datasets import TrainerDatasets, dataset_settings
from services.trainer.metrics import TrainerMetrics
from tests.support.spec_samples import churn, registered, rentals, retired, with_feature
from tests.unit.trainer.test_trainer_coordinator import FakeUploader
from tests.unit.trainer.trainer_samples import labelled_records, trainer_settings


class OverlapUploader(FakeUploader):
    """Counts the uploads in progress at once; each waits (up to a second) for another."""

    def __init__(self) -> None:
        super().__init__()
        self.running = 0
        self.most_at_once = 0
        self.together = asyncio.Event()

    async def upload(self, onnx: bytes, card: ModelCard) -> ModelVersion:
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        if self.running > 1:
            self.together.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.together.wait(), 1.0)
        self.running -= 1
        return await super().upload(onnx, card)


class Harness:
    """TrainerDatasets over a catalogue the test feeds, uploading to a fake registry."""

    def __init__(
        self, *, hold_unknown: bool = True, uploader: FakeUploader | None = None, **settings: Any
    ) -> None:
        values = {"estimator": "linear", "min_records": 50, "retrain_every": 10_000} | settings
        self.settings = trainer_settings(**values)
        self.registry = CollectorRegistry()
        self.uploader = uploader or FakeUploader()
        self.slots = asyncio.Semaphore(self.settings.parallel_runs)
        self.catalogue = SpecCatalogue(self.settings.spec)
        self.metrics = TrainerMetrics(self.registry)
        self.datasets = TrainerDatasets(
            self.catalogue,
            self.settings,
            self.metrics,
            self._coordinator,
            hold_unknown=hold_unknown,
        )

    def _coordinator(self, settings: Settings) -> TrainingCoordinator:
        return TrainingCoordinator(settings, self.uploader, self.metrics, slots=self.slots)

    def buffered(self, dataset: str) -> int:
        coordinator = self.datasets.get(dataset)
        assert coordinator is not None, f"{dataset} is not trained"
        return len(coordinator.buffer)

    def metric(self, name: str, **labels: str) -> float | None:
        return self.registry.get_sample_value(name, labels)

    async def idle(self) -> None:
        for coordinator in self.datasets.coordinators.values():
            await coordinator.runs.wait_idle()

    def uploaded(self) -> list[tuple[str, int]]:
        return [(card.model_name, card.snapshot_size) for _, card in self.uploader.uploads]


def drift(model_name: str) -> DriftDetected:
    return DriftDetected(
        model_name=model_name,
        model_version=1,
        window_size=500,
        threshold=0.2,
        features=(FeatureDrift(feature="area", psi=0.5),),
    )


def test_records_of_an_unknown_data_set_are_held_until_it_is_learned() -> None:
    harness = Harness()
    harness.datasets.add_records([*labelled_records(70), *labelled_records(80, spec=rentals())])
    assert harness.buffered("house-prices") == 70
    assert harness.datasets.get("rentals") is None
    assert len(harness.datasets.pending) == 80
    assert harness.metric("mlbus_trainer_records_pending") == 80

    harness.catalogue.learn(registered(rentals()))

    assert harness.buffered("rentals") == 80
    assert len(harness.datasets.pending) == 0
    assert harness.metric("mlbus_trainer_records_pending") == 0
    assert harness.metric("mlbus_trainer_records_buffered", model="rentals") == 80


def test_unlabelled_held_records_are_not_kept_and_the_oldest_go_beyond_the_limit() -> None:
    harness = Harness()
    harness.datasets.pending.limit = 100
    unlabelled = [r.model_copy(update={"target": None}) for r in labelled_records(30, spec=churn())]
    harness.datasets.add_records(unlabelled)
    harness.datasets.add_records(labelled_records(60, spec=rentals(), prefix="old"))
    harness.datasets.add_records(labelled_records(60, spec=rentals(), prefix="new"))
    assert len(harness.datasets.pending) == 100
    assert harness.metric("mlbus_trainer_records_pending_dropped_total") == 20

    harness.catalogue.learn(registered(rentals()))

    coordinator = harness.datasets.get("rentals")
    assert coordinator is not None
    kept = [r.record_id for r in coordinator.buffer.recent()]
    assert (kept[0], kept[-1], len(kept)) == ("old-00000020", "new-00000059", 100)


def test_without_a_spec_feed_records_of_other_data_sets_are_ignored() -> None:
    harness = Harness(hold_unknown=False)
    harness.datasets.add_records(labelled_records(40, spec=rentals()))
    assert len(harness.datasets.pending) == 0
    assert list(harness.datasets.coordinators) == ["house-prices"]


async def test_a_command_trains_the_data_set_it_names_or_the_one_training_its_model() -> None:
    harness = Harness()
    harness.catalogue.learn(registered(rentals()))
    harness.datasets.add_records([*labelled_records(60), *labelled_records(70, spec=rentals())])

    assert harness.datasets.on_command(TrainModel(dataset="rentals")) is True
    await harness.idle()
    assert harness.datasets.on_command(TrainModel(model_name="house-prices")) is True
    await harness.idle()
    assert harness.datasets.on_command(TrainModel()) is True  # the start-up data set
    await harness.idle()

    assert harness.uploaded() == [("rentals", 70), ("house-prices", 60), ("house-prices", 60)]


async def test_a_model_no_data_set_trains_is_trained_on_the_start_up_data_set() -> None:
    harness = Harness()
    harness.datasets.add_records(labelled_records(60))
    assert harness.datasets.on_command(TrainModel(model_name="house-prices-b")) is True
    await harness.idle()
    assert harness.uploaded() == [("house-prices-b", 60)]


def test_a_command_for_an_unknown_data_set_is_counted_and_skipped() -> None:
    harness = Harness()
    harness.datasets.add_records(labelled_records(60))
    assert harness.datasets.on_command(TrainModel(dataset="rentals")) is False
    assert harness.metric("mlbus_trainer_unrouted_total", event="command") == 1
    assert harness.datasets.default.runs.running is False


async def test_drift_retrains_the_model_it_names_and_an_unknown_model_is_counted() -> None:
    harness = Harness(drift_records=55)
    harness.catalogue.learn(registered(rentals()))
    harness.datasets.add_records([*labelled_records(60), *labelled_records(70, spec=rentals())])

    assert harness.datasets.on_drift(drift("rentals")) is True
    await harness.idle()
    assert harness.datasets.on_drift(drift("churn")) is False

    assert harness.uploaded() == [("rentals", 55)]
    assert harness.metric("mlbus_trainer_unrouted_total", event="drift") == 1
    assert harness.metric("mlbus_trainer_runs_total", model="rentals", outcome="uploaded") == 1
    assert harness.metric("mlbus_trainer_runs_total", model="house-prices", outcome="uploaded") == 0


def test_a_new_version_keeps_the_buffer_and_a_new_major_starts_an_empty_one() -> None:
    harness = Harness()
    harness.catalogue.learn(registered(rentals()))
    harness.datasets.add_records(labelled_records(40, spec=rentals()))
    wider = with_feature(rentals(), {"name": "floor", "type": "integer", "min": 0})

    harness.catalogue.learn(registered(wider, version=2, major=1))
    coordinator = harness.datasets.get("rentals")
    assert coordinator is not None
    assert (harness.buffered("rentals"), coordinator.settings.spec) == (40, wider)

    harness.catalogue.learn(registered(rentals(), version=3, major=2))
    assert harness.buffered("rentals") == 0
    assert coordinator.settings.spec == rentals()
    assert coordinator.new_since_run == 0
    assert harness.metric("mlbus_trainer_records_buffered", model="rentals") == 0


def test_the_registered_start_up_spec_keeps_the_start_up_buffer() -> None:
    harness = Harness()
    harness.datasets.add_records(labelled_records(40))
    harness.catalogue.learn(registered(harness.settings.spec, version=1, major=1))
    assert harness.buffered("house-prices") == 40
    harness.catalogue.learn(registered(harness.settings.spec, version=2, major=2))
    assert harness.buffered("house-prices") == 0


def test_status_names_every_data_set_and_the_held_records() -> None:
    harness = Harness(model_name="prices")
    harness.catalogue.learn(registered(churn()))
    harness.datasets.add_records([*labelled_records(5), *labelled_records(3, spec=rentals())])
    status = harness.datasets.status()
    assert status["records_buffered"] == 5  # the start-up data set's, as before
    assert {name: s["model"] for name, s in status["datasets"].items()} == {
        "churn": "churn",
        "house-prices": "prices",
    }
    assert status["records_pending"] == {"rentals": 3}


def test_another_data_set_drops_hyperparameters_its_task_has_not() -> None:
    settings = trainer_settings(
        estimator="hist_gradient_boosting",
        hyperparameters={"loss": "absolute_error"},
        model_name="prices",
        min_records=80,
    )
    classifier = dataset_settings(settings, churn())
    assert (classifier.model_name, classifier.hyperparameters) == ("churn", {})
    assert classifier.min_records == 80
    regressor = dataset_settings(settings, rentals())
    assert (regressor.model_name, regressor.hyperparameters) == (
        "rentals",
        {"loss": "absolute_error"},
    )


def test_a_data_set_name_no_model_may_have_is_not_trained(caplog: pytest.LogCaptureFixture) -> None:
    harness = Harness()
    harness.catalogue.learn(registered(rentals(name="r" * 70)))
    assert list(harness.datasets.coordinators) == ["house-prices"]
    assert "cannot train data set" in caplog.text


@pytest.mark.parametrize(("parallel_runs", "most_at_once"), [(1, 1), (2, 2)])
async def test_data_sets_take_turns_to_train(parallel_runs: int, most_at_once: int) -> None:
    harness = Harness(uploader=OverlapUploader(), parallel_runs=parallel_runs)
    harness.catalogue.learn(registered(rentals()))
    harness.datasets.add_records([*labelled_records(60), *labelled_records(60, spec=rentals())])
    assert harness.datasets.on_command(TrainModel(dataset="rentals")) is True
    assert harness.datasets.on_command(TrainModel()) is True
    await harness.idle()
    assert isinstance(harness.uploader, OverlapUploader)
    assert harness.uploader.most_at_once == most_at_once
    assert sorted(harness.uploaded()) == [("house-prices", 60), ("rentals", 60)]


async def test_a_retired_data_set_starts_no_automatic_run_until_registered_again() -> None:
    harness = Harness(retrain_every=60, min_records=50, drift_records=55)
    harness.catalogue.learn(registered(rentals()))
    harness.catalogue.learn(retired("rentals"))
    harness.datasets.add_records(labelled_records(70, spec=rentals()))
    assert harness.datasets.on_drift(drift("rentals")) is False
    await harness.idle()
    assert harness.uploaded() == []
    skipped = harness.metric("mlbus_trainer_skipped_total", model="rentals", reason="retired")
    assert skipped == 2  # the new records' run and the drift's

    harness.catalogue.learn(registered(rentals(), version=2))
    assert harness.datasets.on_drift(drift("rentals")) is True
    await harness.idle()
    assert harness.uploaded() == [("rentals", 55)]
