"""When runs happen, and how a run ends: uploaded, failed or skipped."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from contracts import (
    DriftDetected,
    FeatureDrift,
    ModelCard,
    ModelRefused,
    ModelVersion,
    TrainModel,
)
from services.trainer.coordinator import TrainingCoordinator
from services.trainer.metrics import TrainerMetrics
from services.trainer.registry_client import RegistryError
from services.trainer.snapshot import fingerprint
from services.trainer.training import Champion
from tests.unit.trainer.trainer_samples import labelled_records, trainer_settings


class FakeUploader:
    """Stands in for the registry: keeps the uploads, numbers the versions."""

    def __init__(self, error: Exception | None = None) -> None:
        self.uploads: list[tuple[bytes, ModelCard]] = []
        self.error = error

    async def upload(self, onnx: bytes, card: ModelCard) -> ModelVersion:
        if self.error is not None:
            raise self.error
        self.uploads.append((onnx, card))
        return ModelVersion(
            model_name=card.model_name,
            version=len(self.uploads),
            sha256="0" * 64,
            size_bytes=len(onnx),
            created_at="2025-01-01T00:00:00Z",
            card=card,
        )


class GatedUploader(FakeUploader):
    """Holds every upload until the test opens the gate."""

    def __init__(self) -> None:
        super().__init__()
        self.started = asyncio.Event()
        self.gate = asyncio.Event()

    async def upload(self, onnx: bytes, card: ModelCard) -> ModelVersion:
        self.started.set()
        await self.gate.wait()
        return await super().upload(onnx, card)


class FakeChampions:
    """The registry's champion: a fixed one, none, or an error."""

    def __init__(self, champion: Champion | None = None, error: Exception | None = None) -> None:
        self.champion_of = champion
        self.error = error
        self.asked: list[str] = []

    async def champion(self, model_name: str) -> Champion | None:
        self.asked.append(model_name)
        if self.error is not None:
            raise self.error
        return self.champion_of


class Harness:
    def __init__(
        self,
        uploader: FakeUploader | None = None,
        champions: FakeChampions | None = None,
        clock: Callable[[], datetime] | None = None,
        **settings: Any,
    ) -> None:
        values: dict[str, Any] = {
            "estimator": "linear",
            "min_records": 50,
            "retrain_every": 100,
        } | settings
        values.setdefault("drift_records", max(values["min_records"], 60))
        self.settings = trainer_settings(**values)
        self.registry = CollectorRegistry()
        self.uploader = uploader or FakeUploader()
        self.refusals: list[ModelRefused] = []
        self.coordinator = TrainingCoordinator(
            self.settings,
            self.uploader,
            TrainerMetrics(self.registry),
            champions=champions,
            publish_refusal=self._refused,
            clock=clock,
        )

    async def _refused(self, event: ModelRefused) -> None:
        self.refusals.append(event)

    def metric(self, name: str, **labels: str) -> float | None:
        """A sample of the model's metrics (the settings' model unless `model` is given)."""
        return self.registry.get_sample_value(name, {"model": self.settings.model_name} | labels)

    async def idle(self) -> None:
        await self.coordinator.runs.wait_idle()


def drift(model_name: str = "house-prices") -> DriftDetected:
    return DriftDetected(
        model_name=model_name,
        model_version=1,
        window_size=500,
        threshold=0.2,
        features=(FeatureDrift(feature="area", psi=0.5),),
    )


async def test_a_run_starts_once_retrain_every_new_records_arrived() -> None:
    harness = Harness()
    records = labelled_records(250)
    harness.coordinator.add_records(records[:99])
    await harness.idle()
    assert harness.uploader.uploads == []
    harness.coordinator.add_records(records[:99])  # redelivered: not new
    assert harness.coordinator.new_since_run == 99
    harness.coordinator.add_records(records[99:100])
    await harness.idle()
    assert len(harness.uploader.uploads) == 1
    _, card = harness.uploader.uploads[0]
    assert card.snapshot_size == 100
    assert card.estimator == "linear"
    assert harness.coordinator.new_since_run == 0
    assert harness.metric("mlbus_trainer_runs_total", outcome="uploaded") == 1
    assert harness.metric("mlbus_trainer_last_rmse") == pytest.approx(card.metrics.rmse)
    assert harness.metric("mlbus_trainer_records_buffered") == 100
    assert harness.metric("mlbus_trainer_training_seconds_count") == 1
    status = harness.coordinator.status()
    assert status["last_result"]["outcome"] == "uploaded"
    assert status["last_result"]["version"] == 1


async def test_no_run_before_min_records_even_after_retrain_every() -> None:
    harness = Harness(min_records=150, retrain_every=100)
    records = labelled_records(150)
    harness.coordinator.add_records(records[:120])
    await harness.idle()
    assert harness.uploader.uploads == []
    harness.coordinator.add_records(records[120:])
    await harness.idle()
    assert [c.snapshot_size for _, c in harness.uploader.uploads] == [150]


async def test_records_arriving_during_a_run_lead_to_exactly_one_more_run() -> None:
    uploader = GatedUploader()
    harness = Harness(uploader=uploader, retrain_every=50)
    records = labelled_records(200)
    harness.coordinator.add_records(records[:50])
    await uploader.started.wait()  # the first run trained and is uploading
    for start in range(50, 200, 50):  # three more triggers while it is in progress
        harness.coordinator.add_records(records[start : start + 50])
    assert harness.coordinator.status()["pending"] == "new records"
    uploader.gate.set()
    await harness.idle()
    assert [c.snapshot_size for _, c in uploader.uploads] == [50, 200]


async def test_triggers_before_a_run_took_its_snapshot_do_not_train_twice() -> None:
    harness = Harness(retrain_every=50)
    records = labelled_records(300)
    for start in range(0, 300, 50):  # no await between them: the run has not begun yet
        harness.coordinator.add_records(records[start : start + 50])
    await harness.idle()
    assert [c.snapshot_size for _, c in harness.uploader.uploads] == [300]


async def test_train_command_runs_now_with_a_model_name_override() -> None:
    harness = Harness(retrain_every=10_000)
    harness.coordinator.add_records(labelled_records(80))
    assert harness.coordinator.on_command(TrainModel(model_name="house-prices-b")) is True
    await harness.idle()
    assert [c.model_name for _, c in harness.uploader.uploads] == ["house-prices-b"]


async def test_train_command_with_too_few_records_is_skipped_and_recorded() -> None:
    harness = Harness()
    harness.coordinator.add_records(labelled_records(9))
    assert harness.coordinator.on_command(TrainModel(reason="operator")) is False
    await harness.idle()
    assert harness.uploader.uploads == []
    assert harness.metric("mlbus_trainer_skipped_total", reason="too_few_records") == 1
    result = harness.coordinator.status()["last_result"]
    assert result["outcome"] == "skipped"
    assert result["reason"] == "command: operator"
    assert "9 records buffered, 10 needed" in result["detail"]


async def test_a_train_command_trains_below_the_automatic_minimum() -> None:
    harness = Harness(retrain_every=10_000)  # min_records 50: no automatic run
    harness.coordinator.add_records(labelled_records(30))
    assert harness.uploader.uploads == []
    assert harness.coordinator.on_command(TrainModel(reason="a small data set")) is True
    await harness.idle()
    [(_, card)] = harness.uploader.uploads
    assert card.snapshot_size == 30


async def test_drift_retrains_on_the_most_recent_records() -> None:
    harness = Harness(retrain_every=10_000, drift_records=60)
    records = labelled_records(200)
    harness.coordinator.add_records(records)
    assert harness.coordinator.on_drift(drift()) is True
    await harness.idle()
    onnx, card = harness.uploader.uploads[0]
    assert card.snapshot_size == 60
    assert card.snapshot_fingerprint == fingerprint(records[-60:])
    assert onnx


async def test_drift_of_another_model_is_ignored() -> None:
    harness = Harness(retrain_every=10_000)
    harness.coordinator.add_records(labelled_records(100))
    assert harness.coordinator.on_drift(drift("someone-else")) is False
    await harness.idle()
    assert harness.uploader.uploads == []


async def test_a_refused_model_counts_as_failed_and_the_service_goes_on() -> None:
    harness = Harness(retrain_every=10_000, parity_tolerance=-1.0)
    harness.coordinator.add_records(labelled_records(100))
    harness.coordinator.on_command(TrainModel())
    await harness.idle()
    assert harness.uploader.uploads == []
    assert harness.metric("mlbus_trainer_runs_total", outcome="failed") == 1
    assert harness.metric("mlbus_trainer_runs_total", outcome="uploaded") == 0
    result = harness.coordinator.status()["last_result"]
    assert result["outcome"] == "failed"
    assert "model refused" in result["detail"]
    [refusal] = harness.refusals
    assert (refusal.model_name, refusal.refused_by) == ("house-prices", "trainer")
    assert "of the target's spread" in refusal.reason
    assert "tolerance" in refusal.reason


async def test_a_registry_error_counts_as_failed() -> None:
    harness = Harness(uploader=FakeUploader(RegistryError("registry answered 401")))
    harness.coordinator.add_records(labelled_records(100))
    await harness.idle()
    assert harness.metric("mlbus_trainer_runs_total", outcome="failed") == 1
    assert "401" in harness.coordinator.status()["last_result"]["detail"]
    assert harness.metric("mlbus_trainer_training_seconds_count") == 1  # trained, not stored


async def test_a_command_overrides_estimator_hyperparameters_seed_and_snapshot() -> None:
    harness = Harness(retrain_every=10_000)
    records = labelled_records(120)
    harness.coordinator.add_records(records)
    command = TrainModel(
        estimator="hist_gradient_boosting",
        hyperparameters={"max_iter": 5},
        seed=7,
        snapshot_mode="recent",
        snapshot_records=60,
    )
    assert harness.coordinator.on_command(command) is True
    await harness.idle()
    [(_, card)] = harness.uploader.uploads
    assert card.estimator == "hist_gradient_boosting"
    run = card.metrics
    assert run.hyperparameters is not None
    assert run.hyperparameters["max_iter"] == 5
    assert run.seed == 7
    assert card.snapshot_size == 60
    assert card.snapshot_fingerprint == fingerprint(records[-60:])
    assert run.snapshot is not None
    assert run.snapshot["mode"] == "recent"
    assert run.snapshot["records"] == 60


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (TrainModel(estimator="random_forest", hyperparameters={"max_iter": 5}), "has no hyper"),
        (TrainModel(model_name="../x"), "must match"),
        (TrainModel(snapshot_mode="recent"), "needs records"),
    ],
)
async def test_an_invalid_command_is_skipped_with_its_reason(
    command: TrainModel, message: str
) -> None:
    harness = Harness(retrain_every=10_000)
    harness.coordinator.add_records(labelled_records(80))
    assert harness.coordinator.on_command(command) is False
    await harness.idle()
    assert harness.uploader.uploads == []
    assert harness.metric("mlbus_trainer_skipped_total", reason="invalid_command") == 1
    assert message in harness.coordinator.status()["last_result"]["detail"]


async def test_a_window_with_too_few_records_is_skipped() -> None:
    occurred = datetime(2026, 1, 1, tzinfo=UTC)
    harness = Harness(retrain_every=10_000, clock=lambda: occurred + timedelta(seconds=1))
    records = labelled_records(80)
    harness.coordinator.add_records(
        [r.model_copy(update={"occurred_at": occurred}) for r in records]
    )
    command = TrainModel(snapshot_mode="window", snapshot_window_seconds=0.01)
    assert harness.coordinator.on_command(command) is True
    await harness.idle()
    assert harness.uploader.uploads == []
    assert "records of the last 0.01 s" in harness.coordinator.status()["last_result"]["detail"]


async def test_the_champion_is_fetched_and_scored_before_the_upload() -> None:
    first = Harness(retrain_every=10_000)
    records = labelled_records(120)
    first.coordinator.add_records(records)
    first.coordinator.on_command(TrainModel())
    await first.idle()
    [(champion_onnx, champion_card)] = first.uploader.uploads
    champions = FakeChampions(Champion(version=3, onnx=champion_onnx))
    second = Harness(champions=champions, retrain_every=10_000)
    second.coordinator.add_records(records)
    second.coordinator.on_command(TrainModel(estimator="hist_gradient_boosting"))
    await second.idle()
    [(_, card)] = second.uploader.uploads
    assert champions.asked == ["house-prices"]
    assert card.metrics.champion_version == 3
    assert card.metrics.champion_rmse == pytest.approx(champion_card.metrics.rmse, rel=1e-5)


async def test_an_unreachable_registry_champion_does_not_stop_the_upload() -> None:
    champions = FakeChampions(error=RegistryError("connection refused"))
    harness = Harness(champions=champions, retrain_every=10_000)
    harness.coordinator.add_records(labelled_records(80))
    harness.coordinator.on_command(TrainModel())
    await harness.idle()
    [(_, card)] = harness.uploader.uploads
    assert card.metrics.champion_version is None
    assert card.metrics.champion_rmse is None


async def test_a_command_and_drift_during_a_run_coalesce_into_one_more_run() -> None:
    uploader = GatedUploader()
    harness = Harness(uploader=uploader, retrain_every=10_000, drift_records=60)
    records = labelled_records(200)
    harness.coordinator.add_records(records)
    harness.coordinator.on_command(TrainModel(reason="first"))
    await uploader.started.wait()
    harness.coordinator.on_command(TrainModel(reason="operator", estimator="linear"))
    harness.coordinator.on_drift(drift())
    harness.coordinator.on_command(TrainModel(reason="operator"))
    uploader.gate.set()
    await harness.idle()
    assert [c.snapshot_size for _, c in uploader.uploads] == [200, 60]
    reason = harness.coordinator.status()["last_result"]["reason"]
    assert reason == "command: operator; drift of house-prices v1"
