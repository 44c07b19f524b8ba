"""The monitor app on faststream's in-memory broker: predictions in, metrics and drift out."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from uuid import uuid4

import httpx
import pytest
from fastapi import FastAPI
from faststream.kafka import KafkaBroker, TestKafkaBroker
from prometheus_client.parser import text_string_to_metric_families

from contracts import DriftDetected, PredictionMade, RecordIngested, ReferenceStatistics
from services.common.settings import KafkaSettings
from services.monitor.accumulate import Baseline
from services.monitor.app import create_app
from services.monitor.config import Settings
from tests.service.monitor.references import FixedReferences

MakePredictions = Callable[..., list[PredictionMade]]
WINDOW = 200


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
async def monitor(baseline: Baseline) -> AsyncIterator[Monitor]:
    settings = Settings(
        kafka=KafkaSettings(topic_prefix=f"test-{uuid4().hex[:8]}."),
        window_size=WINDOW,
        min_window=50,
        drift_windows=2,
    )
    app: FastAPI = create_app(settings, references=FixedReferences(baseline))
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
    assert event.features[0].feature == "area"
    assert event.features[0].psi > 0.2

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
    assert window["counted"] == 10
    assert window["pending"] == 0
    assert window["complete_windows"] == 0


async def test_late_labels_give_live_error_for_champion_and_shadow(
    monitor: Monitor, make_predictions: MakePredictions
) -> None:
    served = make_predictions(30, seed=5)
    shadow = [
        e.model_copy(update={"model_version": 2, "prediction": e.prediction + 1000.0})
        for e in served
    ]
    topics = monitor.settings.kafka.topics
    await monitor.publish(list(served))
    await monitor.broker.publish_batch(*shadow, topic=topics.predict_shadow)
    labels = [
        RecordIngested(
            record_id=e.record_id,
            dataset="house-prices",
            features=e.features,
            target=e.prediction + (100.0 if i % 2 else -100.0),
        )
        for i, e in enumerate(served)
    ]
    await monitor.broker.publish_batch(*labels, topic=topics.records)

    metrics = await monitor.metrics()

    def error(version: str, role: str, metric: str) -> float:
        labels = _labels(model="house-prices", model_version=version, role=role, metric=metric)
        return metrics[("mlbus_prediction_error", labels)]

    assert error("1", "champion", "rmse") == pytest.approx(100.0)
    assert error("1", "champion", "mae") == pytest.approx(100.0)
    assert 900.0 <= error("2", "shadow", "mae") <= 1100.0
    assert metrics[("mlbus_monitor_labels_total", _labels(outcome="joined"))] == 60


async def test_issue_metrics_and_the_report_page_after_drift(
    monitor: Monitor, make_predictions: MakePredictions, baseline: Baseline
) -> None:
    for seed in (1, 2):
        await monitor.publish(list(make_predictions(WINDOW, seed=seed, drift={"area": 0.3})))
    metrics = await monitor.metrics()
    version = {"model": "house-prices", "model_version": "1"}
    for statistic in ("psi", "js_distance", "ks", "p_value", "p_value_adjusted", "drifting"):
        key = ("mlbus_feature_drift", _labels(**version, feature="area", statistic=statistic))
        assert key in metrics, statistic
    assert (
        metrics[("mlbus_feature_drift", _labels(**version, feature="area", statistic="drifting"))]
        == 1
    )
    chi2 = ("mlbus_feature_drift", _labels(**version, feature="basement", statistic="chi2"))
    assert chi2 in metrics
    assert metrics[("mlbus_dataset_drift", _labels(**version))] == 1
    assert metrics[("mlbus_monitor_windows_total", _labels(**version, outcome="drifting"))] == 2
    published = _labels(model="house-prices", outcome="published")
    assert metrics[("mlbus_drift_detected_total", published)] == 1
    assert ("mlbus_prediction_drift", _labels(**version, statistic="ks")) in metrics

    response = await monitor.http.get("/report")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert page.count("<svg class='chart'") == len(baseline.reference.features) + 1
    assert "house-prices v1: drifting" in page
    assert "<div class='feature drifting' data-feature='area'>" in page


async def test_promtool_accepts_the_metrics_page(
    monitor: Monitor, make_predictions: MakePredictions
) -> None:
    await monitor.publish(list(make_predictions(WINDOW, seed=1, drift={"area": 0.3})))
    labels = [
        RecordIngested(record_id=e.record_id, dataset="house-prices", features={}, target=1.0)
        for e in make_predictions(5, seed=1)
    ]
    await monitor.broker.publish_batch(*labels, topic=monitor.settings.kafka.topics.records)
    page = (await monitor.http.get("/metrics")).text
    assert "mlbus_feature_drift{" in page
    assert "mlbus_prediction_error{" in page

    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("`promtool` is missing: apt-get install prometheus")
    result = subprocess.run(
        [promtool, "check", "metrics"], input=page, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""
    assert result.stderr.strip() == ""


async def test_a_feature_that_stops_arriving_is_exported_and_raises_drift(
    monitor: Monitor, make_predictions: MakePredictions
) -> None:
    for seed in (5, 6):
        events = make_predictions(WINDOW, seed=seed)
        gone = [
            e.model_copy(
                update={"features": {k: v for k, v in e.features.items() if k != "parking"}}
            )
            for e in events
        ]
        await monitor.publish(list(gone))
    metrics = await monitor.metrics()
    version = {"model": "house-prices", "model_version": "1"}

    def parking(statistic: str) -> float:
        labels = _labels(**version, feature="parking", statistic=statistic)
        return metrics[("mlbus_feature_drift", labels)]

    assert parking("missing_rate") == 1.0
    assert parking("missing_reference_rate") == 0.0
    assert parking("missing_drifting") == 1.0
    assert parking("drifting") == 1.0
    assert parking("missing_p_value_adjusted") < 0.01
    assert [event.features[0].feature for event in monitor.drift_events] == ["parking"]
