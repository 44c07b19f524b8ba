"""The registry reference client: caching, failures, retry after a pause."""

from __future__ import annotations

import httpx
import pytest

from contracts import (
    ClassificationTarget,
    ModelCard,
    ModelMetrics,
    ModelVersion,
    OnnxInput,
    ReferenceStatistics,
)
from services.monitor.accumulate import Baseline
from services.monitor.reference_client import RegistryReferenceClient, baseline_of
from tests.support.class_samples import classifier_reference


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FakeRegistry:
    """Answers GET /models/house-prices/versions/1; `down` makes it fail."""

    def __init__(self, version: ModelVersion) -> None:
        self.version = version
        self.down = False
        self.paths: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        if request.url.path != "/models/house-prices/versions/1":
            return httpx.Response(404, json={"detail": "not found"})
        return httpx.Response(200, content=self.version.model_dump_json())


@pytest.fixture
def model_version(reference: ReferenceStatistics) -> ModelVersion:
    card = ModelCard(
        model_name="house-prices",
        dataset="house-prices",
        estimator="ridge",
        metrics=ModelMetrics(rmse=1.0, mae=1.0, r2=0.9, holdout_size=10, parity_max_abs_error=0),
        inputs=(OnnxInput(name="area", type="float"),),
        snapshot_fingerprint="abc",
        snapshot_size=10,
        reference=reference,
    )
    return ModelVersion(
        model_name="house-prices",
        version=1,
        sha256="0" * 64,
        size_bytes=1,
        created_at="2024-01-01T00:00:00Z",
        card=card,
    )


@pytest.fixture
def registry(model_version: ModelVersion) -> FakeRegistry:
    return FakeRegistry(model_version)


def _client(registry: FakeRegistry, clock: Clock) -> RegistryReferenceClient:
    return RegistryReferenceClient(
        "http://registry", retry_seconds=5, transport=httpx.MockTransport(registry), clock=clock
    )


async def test_the_reference_is_fetched_once_and_cached(
    registry: FakeRegistry, reference: ReferenceStatistics
) -> None:
    client = _client(registry, Clock())
    assert await client.get("house-prices", 1) == Baseline(
        reference, 10, holdout_rmse=1.0, holdout_mae=1.0
    )
    assert await client.get("house-prices", 1) == Baseline(
        reference, 10, holdout_rmse=1.0, holdout_mae=1.0
    )
    assert registry.paths == ["/models/house-prices/versions/1"]
    await client.aclose()


async def test_a_down_registry_is_asked_again_only_after_the_retry_pause(
    registry: FakeRegistry, reference: ReferenceStatistics
) -> None:
    clock = Clock()
    client = _client(registry, clock)
    registry.down = True
    assert await client.get("house-prices", 1) is None
    clock.now += 1
    assert await client.get("house-prices", 1) is None
    assert len(registry.paths) == 1  # within the pause: no second request

    registry.down = False
    clock.now += 5
    assert await client.get("house-prices", 1) == Baseline(
        reference, 10, holdout_rmse=1.0, holdout_mae=1.0
    )
    assert len(registry.paths) == 2
    await client.aclose()


async def test_unknown_versions_and_bad_bodies_give_none(registry: FakeRegistry) -> None:
    client = _client(registry, Clock())
    assert await client.get("house-prices", 9) is None
    assert registry.paths == ["/models/house-prices/versions/9"]

    broken = RegistryReferenceClient(
        "http://registry",
        transport=httpx.MockTransport(lambda request: httpx.Response(200, content=b"{not json")),
    )
    assert await broken.get("house-prices", 1) is None
    await client.aclose()
    await broken.aclose()


async def test_the_tests_use_the_training_rows_the_reference_counts(
    registry: FakeRegistry, model_version: ModelVersion
) -> None:
    card = model_version.card
    counted = card.reference.model_copy(update={"size": 7})
    registry.version = model_version.model_copy(
        update={"card": card.model_copy(update={"reference": counted})}
    )
    client = _client(registry, Clock())
    baseline = await client.get("house-prices", 1)
    assert baseline is not None
    assert baseline.size == 7
    await client.aclose()


def test_a_classifiers_card_gives_its_holdout_scores_and_positive_class(
    model_version: ModelVersion,
) -> None:
    target = ClassificationTarget(name="churned", classes=("stay", "leave"), positive_class="stay")
    card = model_version.card.model_copy(
        update={
            "reference": classifier_reference(("stay", "leave")),
            "target": target,
            "classes": ("stay", "leave"),
            "metrics": ModelMetrics(
                task="classification",
                metric="log_loss",
                log_loss=0.4,
                accuracy=0.82,
                macro_f1=0.8,
                roc_auc=0.9,
                holdout_size=10,
                parity_max_abs_error=0,
            ),
        }
    )
    baseline = baseline_of(card)
    assert baseline.reference.labels is not None
    assert baseline.positive == "stay"
    assert baseline.holdout_scores == {
        "accuracy": 0.82,
        "log_loss": 0.4,
        "macro_f1": 0.8,
        "roc_auc": 0.9,
    }
    assert (baseline.holdout_rmse, baseline.holdout_mae) == (None, None)
    assert baseline_of(model_version.card).holdout_scores == {}
