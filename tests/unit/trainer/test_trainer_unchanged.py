"""A run repeating the registry's latest version (same snapshot and options) is skipped."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from contracts import HOUSE_PRICES, ModelCard, ModelVersion, TrainModel
from services.trainer.coordinator import TrainingCoordinator
from services.trainer.metrics import TrainerMetrics
from services.trainer.registry_client import RegistryClient, RegistryError
from services.trainer.snapshot import take_snapshot
from services.trainer.training import TrainingOptions, train_model
from services.trainer.unchanged import repeats
from tests.unit.trainer.trainer_samples import TOKEN, labelled_records, trainer_settings


class VersionedUploader:
    """A registry in memory that also lists versions, as the real client does."""

    def __init__(self, list_error: Exception | None = None) -> None:
        self.uploads: list[ModelVersion] = []
        self.list_error = list_error

    async def upload(self, onnx: bytes, card: ModelCard) -> ModelVersion:
        version = ModelVersion(
            model_name=card.model_name,
            version=len(self.uploads) + 1,
            sha256="0" * 64,
            size_bytes=len(onnx),
            created_at="2025-01-01T00:00:00Z",
            card=card,
        )
        self.uploads.append(version)
        return version

    async def latest_version(self, model_name: str) -> ModelVersion | None:
        if self.list_error is not None:
            raise self.list_error
        return self.uploads[-1] if self.uploads else None


class Harness:
    def __init__(self, uploader: VersionedUploader) -> None:
        self.registry = CollectorRegistry()
        self.uploader = uploader
        settings = trainer_settings(estimator="linear", min_records=50, retrain_every=10_000)
        self.coordinator = TrainingCoordinator(settings, uploader, TrainerMetrics(self.registry))

    async def command(self, **options: Any) -> None:
        assert self.coordinator.on_command(TrainModel(reason="test", **options)) is True
        await self.coordinator.runs.wait_idle()

    def skipped(self) -> float | None:
        return self.registry.get_sample_value(
            "mlbus_trainer_skipped_total", {"model": "house-prices", "reason": "unchanged"}
        )


async def test_the_same_records_and_options_do_not_upload_a_second_version() -> None:
    harness = Harness(VersionedUploader())
    harness.coordinator.add_records(labelled_records(120))
    await harness.command()
    await harness.command()  # as a restarted trainer that re-read the same records
    assert [v.version for v in harness.uploader.uploads] == [1]
    assert harness.skipped() == 1
    result = harness.coordinator.last_result
    assert result is not None
    assert result.outcome == "skipped"
    assert "house-prices v1 has the same snapshot" in result.detail


async def test_status_keeps_the_latest_results_newest_last() -> None:
    harness = Harness(VersionedUploader())
    harness.coordinator.add_records(labelled_records(120))
    await harness.command()
    await harness.command()
    recent = harness.coordinator.status()["recent_results"]
    assert [r["outcome"] for r in recent] == ["uploaded", "skipped"]
    assert harness.coordinator.last_result == harness.coordinator.recent_results[-1]


@pytest.mark.parametrize(
    "options",
    [{"seed": 3}, {"hyperparameters": {"alpha": 2.0}}, {"estimator": "hist_gradient_boosting"}],
)
async def test_a_command_with_other_options_still_trains(options: dict[str, Any]) -> None:
    harness = Harness(VersionedUploader())
    harness.coordinator.add_records(labelled_records(120))
    await harness.command()
    await harness.command(**options)
    assert [v.version for v in harness.uploader.uploads] == [1, 2]
    assert (harness.skipped() or 0) == 0  # never counted


async def test_new_records_still_train() -> None:
    harness = Harness(VersionedUploader())
    records = labelled_records(150)
    harness.coordinator.add_records(records[:120])
    await harness.command()
    harness.coordinator.add_records(records[120:])
    await harness.command()
    first, second = harness.uploader.uploads
    assert first.card.snapshot_fingerprint != second.card.snapshot_fingerprint


async def test_a_registry_that_cannot_list_versions_does_not_stop_training() -> None:
    harness = Harness(VersionedUploader(list_error=RegistryError("down")))
    harness.coordinator.add_records(labelled_records(120))
    await harness.command()
    await harness.command()
    assert len(harness.uploader.uploads) == 2


def test_repeats_compares_fingerprint_estimator_hyperparameters_seed_and_holdout() -> None:
    snapshot = take_snapshot(labelled_records(80), HOUSE_PRICES)
    options = TrainingOptions(estimator="linear", seed=4)
    card = train_model(snapshot, HOUSE_PRICES, "house-prices", options).card
    assert repeats(card, snapshot.fingerprint, options)
    assert repeats(card, snapshot.fingerprint, replace(options, threads=2))  # speed only
    assert not repeats(card, "f" * 64, options)
    assert not repeats(card, snapshot.fingerprint, replace(options, seed=5))
    assert not repeats(card, snapshot.fingerprint, replace(options, hyperparameters={"alpha": 3}))
    assert not repeats(card, snapshot.fingerprint, replace(options, estimator="random_forest"))
    # Another holdout fraction trains on other records of the same snapshot.
    assert not repeats(card, snapshot.fingerprint, replace(options, holdout_fraction=0.3))
    unrecorded = card.model_copy(
        update={"metrics": card.metrics.model_copy(update={"hyperparameters": None})}
    )
    assert not repeats(unrecorded, snapshot.fingerprint, options)


def _version(number: int) -> dict[str, Any]:
    snapshot = take_snapshot(labelled_records(60), HOUSE_PRICES)
    card = train_model(snapshot, HOUSE_PRICES, "house-prices", TrainingOptions("linear")).card
    return ModelVersion(
        model_name="house-prices",
        version=number,
        sha256="ab" * 32,
        size_bytes=1,
        created_at="2025-01-01T00:00:00Z",
        card=card,
    ).model_dump(mode="json")


async def test_latest_version_is_the_highest_listed_or_none() -> None:
    listed = [_version(2), _version(5), _version(3)]

    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/models/house-prices/versions"
        return httpx.Response(200, json=listed)

    def client(handler: Any) -> RegistryClient:
        return RegistryClient("http://registry", SecretStr(TOKEN), transport=handler)

    latest = await client(httpx.MockTransport(answer)).latest_version("house-prices")
    assert latest is not None
    assert latest.version == 5
    empty = httpx.MockTransport(lambda _: httpx.Response(200, json=[]))
    assert await client(empty).latest_version("house-prices") is None
    missing = httpx.MockTransport(lambda _: httpx.Response(404, json={"detail": "no"}))
    assert await client(missing).latest_version("house-prices") is None
    failing = httpx.MockTransport(lambda _: httpx.Response(500))
    with pytest.raises(RegistryError, match="500"):
        await client(failing).latest_version("house-prices")
