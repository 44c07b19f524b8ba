"""Checkpoints of the monitor's state: a restored processor continues exactly like the original."""

from __future__ import annotations

from collections.abc import Callable
from uuid import uuid4

import numpy as np
import pytest
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from contracts import DriftDetected, PredictionMade, RecordIngested
from services.monitor.accumulate import Baseline, WindowCounts
from services.monitor.checkpointing.capture import capture, restore, wall_offset
from services.monitor.checkpointing.format import Checkpoint, decode, encode, pack_ids, unpack_ids
from services.monitor.live_error import LabelJoiner
from services.monitor.metrics import MonitorMetrics
from services.monitor.processor import PredictionProcessor
from services.monitor.windows import DriftWindows, WindowPolicy
from tests.support.class_samples import MULTICLASS, classifier_baseline, classify

MakePredictions = Callable[..., list[PredictionMade]]
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


class FixedReferences:
    def __init__(self, baseline: Baseline) -> None:
        self.baseline = baseline

    async def get(self, model_name: str, version: int) -> Baseline | None:
        return self.baseline


class FailingPublisher:
    """Drift events stay in the outbox: the checkpoint must carry them."""

    async def __call__(self, event: DriftDetected) -> None:
        raise ConnectionError("broker down")


def _monitor(baseline: Baseline) -> tuple[PredictionProcessor, MonitorMetrics, CollectorRegistry]:
    registry = CollectorRegistry()
    metrics = MonitorMetrics(registry)
    processor = PredictionProcessor(
        DriftWindows(WindowPolicy(window_size=200, min_window=50, drift_windows=2)),
        FixedReferences(baseline),
        metrics,
        FailingPublisher(),
        dedupe_capacity=5000,
        joiner=LabelJoiner(window_size=20),
    )
    return processor, metrics, registry


def _labels(events: list[PredictionMade], offset: float) -> list[RecordIngested]:
    return [
        RecordIngested(
            record_id=e.record_id, dataset="house-prices", features={}, target=e.prediction + offset
        )
        for e in events
    ]


def _renamed(events: list[PredictionMade], prefix: str) -> list[PredictionMade]:
    """The events under record ids of their own (the generator repeats ids across seeds)."""
    return [e.model_copy(update={"record_id": f"{prefix}-{i}"}) for i, e in enumerate(events)]


def _counters(registry: CollectorRegistry) -> Samples:
    """Every counter series (what a restart must continue), without the per-process ones."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in registry.collect()
        for sample in family.samples
        if sample.name.endswith("_total") and "checkpoints" not in sample.name
    }


async def _feed(
    processor: PredictionProcessor,
    metrics: MonitorMetrics,
    served: list[PredictionMade],
    shadow: list[PredictionMade],
    labels: list[RecordIngested],
) -> None:
    await processor.process(served)
    processor.process_shadow(shadow)
    processor.process_labels(labels)
    metrics.invalid_messages.inc()


async def test_a_restored_processor_continues_exactly_like_the_original(
    baseline: Baseline, make_predictions: MakePredictions
) -> None:
    original, original_metrics, original_registry = _monitor(baseline)
    drifted = make_predictions(450, seed=1, drift={"area": 0.3})
    calm_v2 = _renamed(make_predictions(120, seed=2, model_version=2), "v2")
    shadow = [e.model_copy(update={"event_id": uuid4(), "model_version": 3}) for e in drifted[:30]]
    await _feed(original, original_metrics, drifted + calm_v2, shadow, _labels(drifted[:40], 100.0))
    assert len(original.outbox) == 1  # two drifting windows, the event not published yet

    state = capture(original, original_metrics, ids=5000, to_wall=wall_offset(original.windows))
    value = encode(Checkpoint.of("g", {}, state))
    restored, restored_metrics, restored_registry = _monitor(baseline)
    restore(decode(value).state, restored, restored_metrics)
    assert _counters(restored_registry) == _counters(original_registry)
    assert restored.outbox == original.outbox

    # The same traffic after the restart: redeliveries, more drift, late labels. (The join
    # buffers are not carried: these labels are for predictions made after the restart.)
    more = _renamed(make_predictions(250, seed=3, drift={"area": 0.3}), "more")
    for processor, metrics in ((original, original_metrics), (restored, restored_metrics)):
        await _feed(processor, metrics, drifted + more, shadow, _labels(more[:50], -50.0))
        await processor.sweep()  # v2 had no new predictions: its window is evaluated here
    after = _counters(original_registry)
    assert _counters(restored_registry) == after
    version_1 = frozenset({("model", "house-prices"), ("version", "1")})
    assert after[("mlbus_monitor_predictions_total", version_1)] == 700
    joined = frozenset({("outcome", "joined")})
    assert after[("mlbus_monitor_labels_total", joined)] == 40 + 30 + 50  # champion, shadow
    assert after[("mlbus_monitor_invalid_messages_total", frozenset())] == 2
    for key in (("house-prices", 1), ("house-prices", 2)):
        a, b = original.windows.state(key), restored.windows.state(key)
        assert a is not None
        assert b is not None
        assert (a.complete_windows, a.drifting_windows, a.open_size) == (
            b.complete_windows,
            b.drifting_windows,
            b.open_size,
        )
        assert a.counts is not None
        assert b.counts is not None
        assert {n: c.tolist() for n, c in a.counts.counts.items()} == {
            n: c.tolist() for n, c in b.counts.counts.items()
        }
    assert original.joiner.windows.keys() == restored.joiner.windows.keys()


async def test_a_window_restored_before_its_reference_is_known_keeps_its_counts(
    baseline: Baseline, make_predictions: MakePredictions
) -> None:
    original, metrics, _ = _monitor(baseline)
    await original.process(make_predictions(150, seed=1))
    state = capture(original, metrics, ids=0, to_wall=0.0)
    first = _monitor(baseline)
    restore(state, first[0], first[1])
    second = _monitor(baseline)  # restored again before any prediction arrived
    restore(capture(first[0], first[1], ids=0, to_wall=0.0), second[0], second[1])
    window = second[0].windows.state(("house-prices", 1))
    assert window is not None
    assert window.open_size == 150
    await second[0].process(make_predictions(50, seed=2))
    assert window.complete_windows == 1


def test_a_checkpoint_with_full_dedupe_memories_stays_well_under_a_megabyte(
    baseline: Baseline,
) -> None:
    processor, metrics, _ = _monitor(baseline)
    for recent in processor.recent_ids.values():
        recent.remember(uuid4() for _ in range(5000))
    value = encode(Checkpoint.of("g", {}, capture(processor, metrics, ids=2000, to_wall=0.0)))
    assert 3 * 2000 * 16 < len(value) < 150_000
    assert len(decode(value).state.recent_ids["labels"]) == 2000 * 16


def test_event_ids_are_packed_in_sixteen_bytes_each_in_order() -> None:
    ids = [uuid4() for _ in range(5)]
    assert unpack_ids(pack_ids(ids)) == ids
    with pytest.raises(ValueError, match="whole number"):
        unpack_ids(b"\x00" * 17)


def test_counts_from_other_bins_are_not_taken_in(baseline: Baseline) -> None:
    counts = WindowCounts.for_reference(baseline.reference)
    assert not counts.load(10, {"area": [1, 2, 3]})
    assert counts.size == 0


def test_counts_without_the_missing_slot_restart_the_window(baseline: Baseline) -> None:
    """A checkpoint from before issue 18 holds one slot less per column: it does not fit."""
    counts = WindowCounts.for_reference(baseline.reference)
    old = {name: [0] * (bins.slots - 1) for name, bins in counts.bins.items()}
    assert not counts.load(10, old)
    assert counts.size == 0


async def test_the_sequential_totals_travel_in_the_checkpoint(
    baseline: Baseline, make_predictions: MakePredictions
) -> None:
    def sequential() -> tuple[PredictionProcessor, MonitorMetrics]:
        policy = WindowPolicy(window_size=100, min_window=50, sequential=True)
        metrics = MonitorMetrics(CollectorRegistry())
        processor = PredictionProcessor(
            DriftWindows(policy), FixedReferences(baseline), metrics, FailingPublisher()
        )
        return processor, metrics

    original, metrics = sequential()
    await original.process(make_predictions(250, seed=1))
    value = encode(Checkpoint.of("g", {}, capture(original, metrics, ids=0, to_wall=0.0)))
    [carried] = decode(value).state.windows
    assert carried.totals_size == 200
    assert carried.size == 50
    restored, restored_metrics = sequential()
    restore(decode(value).state, restored, restored_metrics)
    await restored.process(make_predictions(50, seed=2))
    window = restored.windows.state(("house-prices", 1))
    assert window is not None
    assert window.totals is not None
    assert window.totals.size == 300
    assert window.last_report is not None
    assert window.last_report.sequential_size == 300


def test_a_foreign_value_is_not_a_checkpoint() -> None:
    with pytest.raises(ValidationError):
        decode(b'{"format": 2, "group_id": "g", "offsets": [], "state": {}}')


async def test_a_classifiers_score_windows_travel_in_the_checkpoint() -> None:
    baseline = classifier_baseline(MULTICLASS)

    def classifier_monitor() -> tuple[PredictionProcessor, MonitorMetrics, CollectorRegistry]:
        registry = CollectorRegistry()
        metrics = MonitorMetrics(registry)
        processor = PredictionProcessor(
            DriftWindows(WindowPolicy(window_size=200, min_window=50)),
            FixedReferences(baseline),
            metrics,
            FailingPublisher(),
            joiner=LabelJoiner(class_window_size=300),
        )
        return processor, metrics, registry

    def scores(registry: CollectorRegistry) -> Samples:
        return {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in registry.collect()
            if family.name.startswith("mlbus_classification")
            for sample in family.samples
        }

    original, metrics, original_registry = classifier_monitor()
    first = classify(400, seed=41, classes=MULTICLASS)  # fills the 300-row ring and wraps
    await original.process(first.events)
    original.process_labels(first.labels)
    value = encode(Checkpoint.of("g", {}, capture(original, metrics, ids=0, to_wall=0.0)))
    assert len(value) < 30_000
    restored, restored_metrics, restored_registry = classifier_monitor()
    restore(decode(value).state, restored, restored_metrics)
    assert scores(restored_registry) == pytest.approx(scores(original_registry), rel=1e-6)

    later = classify(100, seed=42, classes=MULTICLASS)
    for processor in (original, restored):
        await processor.process(later.events)
        processor.process_labels(later.labels)
    after = scores(original_registry)
    assert scores(restored_registry) == pytest.approx(after, rel=1e-6)
    champion = frozenset(
        {("model", "churn"), ("model_version", "1"), ("role", "champion"), ("metric", "accuracy")}
    )
    latest = slice(500 - 300, None)
    both = np.concatenate([first.label_indexes, later.label_indexes])[latest]
    predicted = np.concatenate([first.predicted_indexes, later.predicted_indexes])[latest]
    assert after[("mlbus_classification_score", champion)] == pytest.approx(
        float(np.mean(both == predicted))
    )
