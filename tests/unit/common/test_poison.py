"""A poison pill cannot loop: a batch that fails twice is split, its poison dead-lettered alone."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError
from prometheus_client import CollectorRegistry

from services.common.poison import PoisonGuard, PoisonMetrics, Position, is_transient


class Consumer:
    """A batch handler that fails on 'poison' items; records every call."""

    def __init__(self, error: Exception | None = None) -> None:
        self.calls: list[list[int]] = []
        self.handled: list[int] = []
        self.error = error or ValueError("cannot")

    async def __call__(self, items: Sequence[int]) -> None:
        self.calls.append(list(items))
        if any(item < 0 for item in items):
            raise self.error
        self.handled.extend(items)


def at(item: int) -> Position:
    return Position("raw", 0, abs(item))


def metric(registry: CollectorRegistry, name: str) -> float:
    return registry.get_sample_value(name, {"consumer": "test"}) or 0.0


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


async def test_a_good_batch_is_handled_once(registry: CollectorRegistry) -> None:
    consumer = Consumer()
    guard = PoisonGuard("test", PoisonMetrics(registry), at)
    await guard.handle([1, 2, 3], consumer)
    assert consumer.calls == [[1, 2, 3]]


async def test_a_batch_failing_twice_is_split_and_its_poison_dead_lettered_alone(
    registry: CollectorRegistry,
) -> None:
    consumer = Consumer()
    dead: list[tuple[int, str]] = []

    async def dead_letter(item: int, error: BaseException) -> None:
        dead.append((item, str(error)))

    guard = PoisonGuard("test", PoisonMetrics(registry), at, dead_letter)
    await guard.handle([1, -2, 3], consumer)
    assert consumer.calls == [[1, -2, 3], [1, -2, 3], [1], [-2], [3]]
    assert consumer.handled == [1, 3]
    assert dead == [(-2, "cannot")]
    assert metric(registry, "mlbus_consumer_split_batches_total") == 1
    assert metric(registry, "mlbus_consumer_poison_dead_lettered_total") == 1


async def test_poison_that_cannot_be_dead_lettered_is_logged_counted_and_skipped(
    registry: CollectorRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    async def refused(item: int, error: BaseException) -> None:
        raise MessageSizeTooLargeError("too large")

    consumer = Consumer()
    guard = PoisonGuard("test", PoisonMetrics(registry), at, refused)
    await guard.handle([-7, 8], consumer)
    assert consumer.handled == [8]
    assert metric(registry, "mlbus_consumer_poison_skipped_total") == 1
    assert "skipped the record at Position(topic='raw', partition=0, offset=7)" in caplog.text


async def test_a_consumer_without_dead_letters_skips_and_counts(
    registry: CollectorRegistry,
) -> None:
    consumer = Consumer()
    guard = PoisonGuard("test", PoisonMetrics(registry), at)
    await guard.handle([-1], consumer)
    assert consumer.calls == [[-1], [-1], [-1]]
    assert metric(registry, "mlbus_consumer_poison_skipped_total") == 1


async def test_a_broker_that_is_away_fails_the_batch_at_once_to_be_delivered_again(
    registry: CollectorRegistry,
) -> None:
    consumer = Consumer(KafkaConnectionError("broker gone"))
    guard = PoisonGuard("test", PoisonMetrics(registry), at)
    with pytest.raises(KafkaConnectionError):
        await guard.handle([1, -2], consumer)
    assert consumer.calls == [[1, -2]]  # not split: nothing may be skipped while it is away
    await guard.handle([1, 2], consumer)
    assert metric(registry, "mlbus_consumer_redelivered_records_total") == 2
    assert metric(registry, "mlbus_consumer_split_batches_total") == 0


def test_which_errors_are_the_broker_being_away() -> None:
    assert is_transient(KafkaConnectionError())
    assert is_transient(TimeoutError())
    assert not is_transient(MessageSizeTooLargeError())
    assert not is_transient(ValueError())
