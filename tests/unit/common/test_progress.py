"""ConsumerProgress sees a consumer that has records waiting and makes no progress."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import CollectorRegistry

from services.common.progress import ConsumerProgress

RAW = TopicPartition("raw", 0)


class FakeConsumer(AIOKafkaConsumer):  # type: ignore[misc]  # aiokafka is untyped: Any
    """An unstarted aiokafka consumer whose offsets the test sets."""

    def __init__(self) -> None:
        super().__init__(bootstrap_servers="127.0.0.1:9")
        self.committed_offset: int | None = None
        self.high = 0

    def assignment(self) -> set[TopicPartition]:
        return {RAW}

    async def committed(self, partition: TopicPartition) -> int | None:
        return self.committed_offset

    async def position(self, partition: TopicPartition) -> int:
        return 0

    def highwater(self, partition: TopicPartition) -> int:
        return self.high


class Subscriber:
    group_id = "mlbus-ingest"
    topic_names = ("raw",)

    def __init__(self, consumer: Any) -> None:
        self.consumer = consumer


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def consumer() -> AsyncIterator[FakeConsumer]:
    """A FakeConsumer, closed afterwards: aiokafka warns about an unclosed one."""
    fake = FakeConsumer()
    yield fake
    await fake.stop()


def gauge(registry: CollectorRegistry, name: str) -> float | None:
    return registry.get_sample_value(name, {"consumer": "raw"})


async def test_records_waiting_without_progress_stall_the_consumer(consumer: FakeConsumer) -> None:
    clock, registry = Clock(), CollectorRegistry()
    progress = ConsumerProgress(lambda: [Subscriber(consumer)], registry, 30, clock=clock)
    consumer.committed_offset, consumer.high = 10, 25
    await progress.check()
    assert gauge(registry, "mlbus_consumer_lag") == 15
    clock.now = 29
    await progress.check()
    assert progress.problems() == []
    assert gauge(registry, "mlbus_consumer_stalled") == 0
    clock.now = 31
    await progress.check()
    [problem] = progress.problems()
    assert "consumer raw has 15 records waiting" in problem
    assert "for 31s" in problem
    assert gauge(registry, "mlbus_consumer_stalled") == 1
    assert gauge(registry, "mlbus_consumer_commit_age_seconds") == 31


async def test_progress_or_an_empty_backlog_is_not_a_stall(consumer: FakeConsumer) -> None:
    clock, registry = Clock(), CollectorRegistry()
    progress = ConsumerProgress(lambda: [Subscriber(consumer)], registry, 30, clock=clock)
    consumer.committed_offset, consumer.high = 10, 25
    await progress.check()
    clock.now, consumer.committed_offset = 40, 20  # moved
    await progress.check()
    assert progress.problems() == []
    clock.now, consumer.committed_offset = 100, 25  # caught up, then idle for long
    await progress.check()
    clock.now = 500
    await progress.check()
    assert progress.problems() == []
    assert gauge(registry, "mlbus_consumer_lag") == 0


async def test_subscribers_without_a_group_or_not_started_are_left_alone() -> None:
    registry = CollectorRegistry()
    unstarted = Subscriber(None)
    progress = ConsumerProgress(lambda: [unstarted], registry, 30)
    await progress.check()
    assert progress.problems() == []
    assert gauge(registry, "mlbus_consumer_lag") is None


async def _checked_at_positions(
    consumer: FakeConsumer, positions: list[int], high: int, seconds: range
) -> ConsumerProgress:
    """A consumer that never commits, at these positions over these seconds, checked."""
    clock, registry = Clock(), CollectorRegistry()
    at = iter(positions)

    async def position(partition: TopicPartition) -> int:
        return next(at)

    consumer.position = position  # type: ignore[method-assign]
    consumer.high = high
    progress = ConsumerProgress(lambda: [Subscriber(consumer)], registry, 30, clock=clock)
    for now in seconds:
        clock.now = now
        await progress.check()
    return progress


async def test_a_consumer_that_never_committed_and_rewinds_again_and_again_stalls(
    consumer: FakeConsumer,
) -> None:
    # Fetched one record, rewound, fetched it again ...: now and then seen twice at 6.
    positions = [5, 6, 5, 6, 6, 5, 6, 5, 6, 5, 6]
    progress = await _checked_at_positions(consumer, positions, high=6, seconds=range(0, 110, 10))
    [problem] = progress.problems()
    assert "has 1 records waiting" in problem


async def test_a_consumer_that_never_commits_but_moves_on_is_not_stalled(
    consumer: FakeConsumer,
) -> None:
    positions = list(range(0, 1000, 100))
    progress = await _checked_at_positions(
        consumer, positions, high=10_000, seconds=range(0, 100, 10)
    )
    assert progress.problems() == []


class AnswersAsItIsCancelled(FakeConsumer):
    """The broker answers `committed` in the same loop step that shutdown cancels the watcher."""

    watcher: asyncio.Task[None] | None = None

    async def committed(self, partition: TopicPartition) -> int | None:
        if self.watcher is not None:
            self.watcher.cancel()
            self.watcher = None
        return 5


async def test_a_cancel_that_meets_the_brokers_answer_still_stops_the_watcher() -> None:
    # Python 3.11's asyncio.wait_for returns the answer and drops such a cancel: the watcher
    # ran on, and the service's shutdown waited on it with its consumer still in the group.
    consumer = AnswersAsItIsCancelled()
    progress = ConsumerProgress(lambda: [Subscriber(consumer)], CollectorRegistry(), 30)
    watcher = asyncio.create_task(progress.run(interval_seconds=0.01))
    consumer.watcher = watcher
    try:
        done, _ = await asyncio.wait([watcher], timeout=2.0)
        assert done == {watcher}
        assert watcher.cancelled()
    finally:
        watcher.cancel()
        await consumer.stop()
