"""Offsets-with-state: checkpoint written before its offsets are committed; the skip rule."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import NamedTuple

import pytest
from aiokafka import TopicPartition
from prometheus_client import CollectorRegistry

from contracts import PredictionMade
from services.monitor.accumulate import Baseline
from services.monitor.checkpointing.checkpointer import Checkpointer
from services.monitor.checkpointing.positions import Positions
from services.monitor.metrics import MonitorMetrics
from services.monitor.processor import PredictionProcessor
from services.monitor.windows import DriftWindows, WindowPolicy

MakePredictions = Callable[..., list[PredictionMade]]
TOPIC = "predict.results.v1"
LABELS = {"model": "house-prices", "version": "1"}


class Record(NamedTuple):
    topic: str
    partition: int
    offset: int
    value: PredictionMade | None = None


class FakeStore:
    def __init__(self, log: list[str]) -> None:
        self.values: list[bytes] = []
        self.failing = False
        self._log = log

    async def latest(self) -> bytes | None:
        return self.values[-1] if self.values else None

    async def write(self, value: bytes) -> None:
        if self.failing:
            raise ConnectionError("broker down")
        self.values.append(value)
        self._log.append("write")


class FakeConsumer:
    def __init__(self, log: list[str], partitions: Sequence[int] = (0, 1)) -> None:
        self.assigned = {TopicPartition(TOPIC, p) for p in partitions}
        self.committed: dict[TopicPartition, int] = {}
        self._log = log

    def assignment(self) -> set[TopicPartition]:
        return set(self.assigned)

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        assert offsets.keys() <= self.assigned
        self.committed.update(offsets)
        self._log.append("commit")


class FixedReferences:
    def __init__(self, baseline: Baseline) -> None:
        self.baseline = baseline

    async def get(self, model_name: str, version: int) -> Baseline | None:
        return self.baseline


class Monitor(NamedTuple):
    processor: PredictionProcessor
    registry: CollectorRegistry
    checkpoints: Checkpointer

    async def consume(self, consumer: FakeConsumer, records: list[Record]) -> None:
        """What the subscriber does with a batch."""
        async with self.checkpoints.batch(consumer, records) as admitted:
            await self.processor.process([r.value for r in admitted if r.value is not None])

    def counted(self) -> float | None:
        return self.registry.get_sample_value("mlbus_monitor_predictions_total", LABELS)


def _monitor(store: FakeStore, baseline: Baseline, ids: int = 100) -> Monitor:
    registry = CollectorRegistry()
    metrics = MonitorMetrics(registry)
    processor = PredictionProcessor(
        DriftWindows(WindowPolicy(window_size=100, min_window=50)),
        FixedReferences(baseline),
        metrics,
        publish=_never_called,
    )
    checkpoints = Checkpointer(processor, metrics, store, group_id="g", ids=ids)
    return Monitor(processor, registry, checkpoints)


class Rig(NamedTuple):
    """A monitor, its checkpoint store and its consumer; the last two note their writes and
    commits in `log`, in order."""

    log: list[str]
    store: FakeStore
    consumer: FakeConsumer
    monitor: Monitor


async def _restored(baseline: Baseline) -> Rig:
    """A monitor restored from an empty store, as at a first start."""
    log: list[str] = []
    store = FakeStore(log)
    monitor = _monitor(store, baseline)
    await monitor.checkpoints.restore()
    return Rig(log, store, FakeConsumer(log), monitor)


async def _never_called(event: object) -> None:
    raise AssertionError("no drift expected")


def _records(events: list[PredictionMade], first_offset: int, partition: int = 0) -> list[Record]:
    return [Record(TOPIC, partition, first_offset + i, e) for i, e in enumerate(events)]


async def test_a_restarted_monitor_counts_each_prediction_once(
    baseline: Baseline, make_predictions: MakePredictions
) -> None:
    log: list[str] = []
    store, consumer = FakeStore(log), FakeConsumer(log)
    events = make_predictions(300, seed=1)
    first = _monitor(store, baseline, ids=0)
    await first.checkpoints.restore()
    await first.consume(consumer, _records(events[:100], 0))
    await first.checkpoints.checkpoint()
    assert log == ["write", "commit"]
    assert consumer.committed == {TopicPartition(TOPIC, 0): 100}
    await first.consume(consumer, _records(events[100:150], 100))  # then kill -9: not checkpointed

    # No event ids carried: only the checkpoint's offsets keep the records it covers out.
    second = _monitor(store, baseline, ids=0)
    await second.checkpoints.restore()
    assert second.counted() == 100
    # Kafka hands over everything from before the committed offset (say a commit was lost),
    # then the records the first monitor counted but did not checkpoint, then new ones.
    await second.consume(consumer, _records(events[50:250], 50))
    # A redelivery from the predictor: the same events again, at new offsets.
    await second.consume(consumer, _records(events[200:210], 250))
    assert second.counted() == 250
    await second.checkpoints.checkpoint()
    assert consumer.committed == {TopicPartition(TOPIC, 0): 260}


async def test_no_offset_is_committed_unless_its_checkpoint_was_written(
    baseline: Baseline, make_predictions: MakePredictions
) -> None:
    log, store, consumer, monitor = await _restored(baseline)
    await monitor.consume(consumer, _records(make_predictions(10, seed=1), 0))
    store.failing = True
    with pytest.raises(ConnectionError):
        await monitor.checkpoints.checkpoint()
    assert log == []
    assert consumer.committed == {}

    store.failing = False
    await monitor.checkpoints.checkpoint()
    await monitor.checkpoints.checkpoint()  # nothing new: neither written nor committed again
    assert log == ["write", "commit"]


async def test_only_assigned_partitions_are_committed(
    baseline: Baseline, make_predictions: MakePredictions
) -> None:
    _, _, consumer, monitor = await _restored(baseline)
    events = make_predictions(30, seed=1)
    await monitor.consume(consumer, _records(events[:10], 0, partition=0))
    await monitor.consume(consumer, _records(events[10:], 5, partition=1))
    consumer.assigned = {TopicPartition(TOPIC, 1)}  # a rebalance took partition 0 away
    await monitor.checkpoints.checkpoint()
    assert consumer.committed == {TopicPartition(TOPIC, 1): 25}


async def test_a_checkpoint_waits_for_the_batch_being_applied(
    baseline: Baseline, make_predictions: MakePredictions
) -> None:
    log, _, consumer, monitor = await _restored(baseline)
    records = _records(make_predictions(10, seed=1), 0)
    async with monitor.checkpoints.batch(consumer, records) as admitted:
        checkpoint = asyncio.create_task(monitor.checkpoints.checkpoint())
        for _ in range(5):
            await asyncio.sleep(0)  # hand the loop over: the checkpoint must stay blocked
        assert not checkpoint.done()
        assert log == []
        await monitor.processor.process([r.value for r in admitted if r.value is not None])
    await checkpoint
    assert log == ["write", "commit"]


async def test_before_restore_batches_pass_untouched_and_nothing_is_written(
    baseline: Baseline, make_predictions: MakePredictions
) -> None:
    """faststream's in-memory test broker: every record has offset 0, no lifespan runs."""
    log: list[str] = []
    store, consumer = FakeStore(log), FakeConsumer(log)
    monitor = _monitor(store, baseline)
    events = make_predictions(20, seed=1)
    await monitor.consume(consumer, [Record(TOPIC, 0, 0, e) for e in events])
    await monitor.checkpoints.checkpoint()
    assert monitor.counted() == 20
    assert log == []


async def test_an_unreadable_checkpoint_starts_the_counts_afresh(baseline: Baseline) -> None:
    store = FakeStore([])
    store.values.append(b'{"format": 1, "something": "else"}')
    monitor = _monitor(store, baseline)
    await monitor.checkpoints.restore()
    assert monitor.checkpoints.active
    assert monitor.counted() is None


def test_records_below_their_partitions_next_offset_are_skipped() -> None:
    positions = Positions({("a", 0): 5, ("b", 1): 2})
    batch = [Record("a", 0, 4), Record("a", 0, 5), Record("b", 1, 1), Record("b", 0, 0)]
    assert positions.admit(batch) == [Record("a", 0, 5), Record("b", 0, 0)]
    assert positions.admit([Record("a", 0, 5), Record("a", 0, 9)]) == [Record("a", 0, 9)]
    assert positions.snapshot() == {("a", 0): 10, ("b", 1): 2, ("b", 0): 1}
