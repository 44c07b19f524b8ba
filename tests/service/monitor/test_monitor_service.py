"""The monitor app on faststream's in-memory broker: predictions in, metrics and drift out."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from uuid import uuid4

import httpx
import pytest
from fastapi import FastAPI
from faststream.kafka import KafkaBroker, TestKafkaBroker
from prometheus_client.parser import text_string_to_metric_families

from contracts import DriftDetected, PredictionMade, ReferenceStatistics
from services.common.settings import KafkaSettings
from services.monitor.app import create_app
from services.monitor.config import Settings

MakePredictions = Callable[..., list[PredictionMade]]
WINDOW = 200


class FixedReferences:
    """Stands in for the registry: every version has the same reference."""

    def __init__(self, reference: ReferenceStatistics) -> None:
        self.reference = reference

    async def get(self, model_name: str, version: int) -> ReferenceStatistics | None:
        return self.reference


@dataclass
class Monitor:
    settings: Settings
    broker: KafkaBroker
    http: httpx.AsyncClient
    drift_events: list[DriftDetected]

    async def publish(self, events: list[PredictionMade | bytes]) -> None:
        await self.broker.publish_batch(*events, topic=self.settings.kafka.topics.predict_results)

    async def metrics(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        response = await self.http.get("/metrics")
        assert response.status_code == 200
        return {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples
        }


@pytest.fixture
async def monitor(reference: ReferenceStatistics) -> AsyncIterator[Monitor]:
    settings = Settings(
        kafka=KafkaSettings(topic_prefix=f"test-{uuid4().hex[:8]}."),
        window_size=WINDOW,
        min_window=50,
        drift_windows=2,
    )
    app: FastAPI = create_app(settings, references=FixedReferences(reference))
    broker: KafkaBroker = app.state.broker
    drift_events: list[DriftDetected] = []

    @broker.subscriber(settings.kafka.topics.drift)
    async def collect(event: DriftDetected) -> None:
        drift_events.append(event)

    async with TestKafkaBroker(broker) as test_broker:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://monitor") as http:
            yield Monitor(settings, test_broker, http, drift_events)


def _labels(**labels: str) -> frozenset[tuple[str, str]]:
    return frozenset(labels.items())


MODEL = {"model": "house-prices", "version": "1"}


async def test_feature_psi_gauges_after_a_full_window(
    monitor: Monitor, make_predictions: MakePredictions, reference: ReferenceStatistics
) -> None:
    await monitor.publish(list(make_predictions(WINDOW, seed=1)))
    metrics = await monitor.metrics()
    feature_psi = {
        dict(labels)["feature"]: value
        for (name, labels), value in metrics.items()
        if name == "mlbus_monitor_feature_psi"
    }
    assert set(feature_psi) == set(reference.features)
    assert all(0 <= v < 0.2 for v in feature_psi.values())
    assert metrics[("mlbus_monitor_predictions_total", _labels(**MODEL))] == WINDOW
    assert ("mlbus_monitor_prediction_psi", _labels(**MODEL)) in metrics
    assert monitor.drift_events == []


async def test_a_partial_window_shows_on_the_gauges_from_min_window(
    monitor: Monitor, make_predictions: MakePredictions
) -> None:
    events = make_predictions(60, seed=1)
    await monitor.publish(list(events[:40]))
    key = ("mlbus_monitor_feature_psi", _labels(**MODEL, feature="area"))
    assert key not in await monitor.metrics()
    await monitor.publish(list(events[40:]))
    assert (await monitor.metrics())[key] >= 0


async def test_drift_held_for_two_windows_is_published_once(
    monitor: Monitor, make_predictions: MakePredictions
) -> None:
    for seed in (1, 2, 3):
        await monitor.publish(list(make_predictions(WINDOW, seed=seed, drift={"area": 0.3})))
    assert len(monitor.drift_events) == 1
    event = monitor.drift_events[0]
    assert (event.model_name, event.model_version, event.window_size) == ("house-prices", 1, WINDOW)
    assert event.features[0].feature == "area" and event.features[0].psi > 0.2

    metrics = await monitor.metrics()
    assert metrics[("mlbus_monitor_drift_events_total", _labels(model="house-prices"))] == 1
    assert metrics[("mlbus_monitor_feature_psi", _labels(**MODEL, feature="area"))] > 0.2


async def test_invalid_messages_are_skipped_without_losing_their_batch(
    monitor: Monitor, make_predictions: MakePredictions
) -> None:
    events: list[PredictionMade | bytes] = [*make_predictions(10, seed=1)]
    events.insert(3, b"{not json")
    events.insert(7, b'{"kind": "prediction.made.v1"}')
    await monitor.publish(events)
    metrics = await monitor.metrics()
    assert metrics[("mlbus_monitor_invalid_messages_total", frozenset())] == 2
    assert metrics[("mlbus_monitor_predictions_total", _labels(**MODEL))] == 10

    response = await monitor.http.get("/windows")
    [window] = response.json()
    assert window["pending"] == 10 and window["complete_windows"] == 0
