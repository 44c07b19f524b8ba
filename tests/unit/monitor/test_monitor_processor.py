"""The processor: dedupe, waiting for references, metrics, the drift outbox."""

from __future__ import annotations

from collections.abc import Callable
from uuid import uuid4

import pytest
from prometheus_client import CollectorRegistry

from contracts import DriftDetected, PredictionMade
from services.monitor.accumulate import Baseline
from services.monitor.metrics import MonitorMetrics
from services.monitor.processor import PredictionProcessor, RecentIds
from services.monitor.windows import DriftWindows, WindowPolicy

MakePredictions = Callable[..., list[PredictionMade]]
LABELS = {"model": "house-prices", "version": "1"}


class SwitchableReferences:
    def __init__(self, reference: Baseline | None) -> None:
        self.reference = reference
        self.asked = 0

    async def get(self, model_name: str, version: int) -> Baseline | None:
        self.asked += 1
        return self.reference


class FlakyPublisher:
    def __init__(self) -> None:
        self.failing = False
        self.published: list[DriftDetected] = []

    async def __call__(self, event: DriftDetected) -> None:
        if self.failing:
            raise ConnectionError("broker down")
        self.published.append(event)


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


def _processor(
    registry: CollectorRegistry, references: SwitchableReferences, publish: FlakyPublisher
) -> PredictionProcessor:
    policy = WindowPolicy(window_size=200, min_window=50, drift_windows=2)
    return PredictionProcessor(
        DriftWindows(policy), references, MonitorMetrics(registry), publish, dedupe_capacity=1000
    )


def _sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


async def test_redelivered_events_are_counted_once(
    registry: CollectorRegistry, baseline: Baseline, make_predictions: MakePredictions
) -> None:
    processor = _processor(registry, SwitchableReferences(baseline), FlakyPublisher())
    events = make_predictions(60, seed=1)
    await processor.process(events)
    await processor.process(events[:30])
    assert _sample(registry, "mlbus_monitor_predictions_total", **LABELS) == 60
    psi = _sample(registry, "mlbus_monitor_feature_psi", **LABELS, feature="area")
    assert psi is not None
    assert psi >= 0


async def test_predictions_are_evaluated_when_the_reference_arrives(
    registry: CollectorRegistry, baseline: Baseline, make_predictions: MakePredictions
) -> None:
    references = SwitchableReferences(None)
    processor = _processor(registry, references, FlakyPublisher())
    await processor.process(make_predictions(250, seed=1))
    assert _sample(registry, "mlbus_monitor_feature_psi", **LABELS, feature="area") is None

    references.reference = baseline
    await processor.sweep()
    assert _sample(registry, "mlbus_monitor_feature_psi", **LABELS, feature="area") is not None
    assert _sample(registry, "mlbus_monitor_prediction_psi", **LABELS) is not None
    state = processor.windows.state(("house-prices", 1))
    assert state is not None
    assert state.complete_windows == 1
    assert state.open_size == 50


async def test_an_unpublished_drift_event_is_retried_with_the_same_id(
    registry: CollectorRegistry, baseline: Baseline, make_predictions: MakePredictions
) -> None:
    publisher = FlakyPublisher()
    publisher.failing = True
    processor = _processor(registry, SwitchableReferences(baseline), publisher)
    await processor.process(make_predictions(400, seed=1, drift={"area": 0.3}))
    assert publisher.published == []
    assert len(processor.outbox) == 1
    assert _sample(registry, "mlbus_monitor_drift_events_total", model="house-prices") == 1
    parked = processor.outbox[0]

    publisher.failing = False
    await processor.sweep()
    assert publisher.published == [parked]
    assert processor.outbox == []


def test_recent_ids_forget_the_oldest_beyond_capacity() -> None:
    ids = [uuid4() for _ in range(3)]
    recent = RecentIds(capacity=2)
    assert all(recent.first_time(i) for i in ids)
    assert not recent.first_time(ids[2])
    assert recent.first_time(ids[0])  # forgotten: capacity 2


async def test_a_batch_larger_than_the_pending_bound_loses_nothing(
    registry: CollectorRegistry, baseline: Baseline, make_predictions: MakePredictions
) -> None:
    policy = WindowPolicy(window_size=100, min_window=50, max_pending_windows=1)
    processor = PredictionProcessor(
        DriftWindows(policy),
        SwitchableReferences(baseline),
        MonitorMetrics(registry),
        FlakyPublisher(),
    )
    await processor.process(make_predictions(350, seed=1))
    state = processor.windows.state(("house-prices", 1))
    assert state is not None
    assert (state.complete_windows, state.open_size, state.dropped) == (3, 50, 0)
