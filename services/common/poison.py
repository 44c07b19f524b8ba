"""A poison pill cannot loop: one mechanism for every batch consumer.

faststream hands a batch back to Kafka when its handler raises, and Kafka delivers the same
batch again: a record that always fails would stall its partition for good and make every other
record of its batch be published again and again. So a batch that fails twice in a row (with an
error that is not the broker being away) is split and handled record by record; a record that
still fails is dead-lettered alone, and if even that fails it is logged with its partition and
offset, counted and skipped. Errors of an unreachable broker are raised as they are: the batch
is delivered again once the broker is back, and nothing is lost.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError
from prometheus_client import CollectorRegistry, Counter

if TYPE_CHECKING:
    from aiokafka import ConsumerRecord

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Handle = Callable[[Sequence[Item]], Awaitable[None]]
DeadLetter = Callable[[Item, BaseException], Awaitable[None]]


@dataclass(frozen=True)
class Position:
    """Where a consumed record was: its topic, partition and offset."""

    topic: str
    partition: int
    offset: int


def is_transient(error: BaseException) -> bool:
    """Whether `error` says the broker is away (retry the same batch) rather than that the
    records cannot be handled (split them)."""
    if isinstance(error, KafkaConnectionError | KafkaTimeoutError | ConnectionError | TimeoutError):
        return True
    return isinstance(error, KafkaError) and bool(error.retriable)


def batch_records(raw_message: Any) -> Sequence[ConsumerRecord[Any, Any]]:
    """The records of a faststream message: a tuple from Kafka, a list from the test broker,
    one record for a subscriber that is not a batch one."""
    return raw_message if isinstance(raw_message, tuple | list) else (raw_message,)


def position_of(record: ConsumerRecord[Any, Any]) -> Position | None:
    """Where a consumed record was (None for the in-memory test broker's, which have none)."""
    if not isinstance(record.partition, int) or not isinstance(record.offset, int):
        return None
    return Position(record.topic, record.partition, record.offset)


class PoisonMetrics:
    """Counters of one service's consumers, labelled by consumer."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.redelivered = Counter(
            "mlbus_consumer_redelivered_records_total",
            "Records delivered again after their batch failed (seen before in this process).",
            ["consumer"],
            registry=registry,
        )
        self.split = Counter(
            "mlbus_consumer_split_batches_total",
            "Batches that failed twice and were handled record by record.",
            ["consumer"],
            registry=registry,
        )
        self.dead_lettered = Counter(
            "mlbus_consumer_poison_dead_lettered_total",
            "Records that failed on their own and were dead-lettered alone.",
            ["consumer"],
            registry=registry,
        )
        self.skipped = Counter(
            "mlbus_consumer_poison_skipped_total",
            "Records that failed on their own and could not be dead-lettered: logged, skipped.",
            ["consumer"],
            registry=registry,
        )


class PoisonGuard(Generic[Item]):
    """Runs a consumer's batch handler so that no record can fail its batch for ever.

    `position` says where an item was consumed (None: not from Kafka); `dead_letter` sends one
    item to the dead-letter topic with the error it failed with (None: the consumer has none,
    a poison record is logged, counted and skipped).
    """

    def __init__(
        self,
        consumer: str,
        metrics: PoisonMetrics,
        position: Callable[[Item], Position | None],
        dead_letter: DeadLetter[Item] | None = None,
    ) -> None:
        self._consumer = consumer
        self._position = position
        self._dead_letter = dead_letter
        self._redelivered = metrics.redelivered.labels(consumer=consumer)
        self._split = metrics.split.labels(consumer=consumer)
        self._dead_lettered = metrics.dead_lettered.labels(consumer=consumer)
        self._skipped = metrics.skipped.labels(consumer=consumer)
        # Per topic partition: the offset after the last record seen in this process.
        self._seen: dict[tuple[str, int], int] = {}

    async def handle(self, items: Sequence[Item], handle: Handle[Item]) -> None:
        """`handle(items)`; after two failures, each item alone; poison dead-lettered."""
        self._count_redelivered(items)  # and remember them as seen
        try:
            await self._twice(items, handle)
        except _FailedTwice as failed:
            self._split.inc()
            log.warning(
                "%s: a batch of %d failed twice (%s); handling its records one by one",
                self._consumer,
                len(items),
                failed.error,
            )
            for item in items:
                await self._alone(item, handle)

    async def _twice(self, items: Sequence[Item], handle: Handle[Item]) -> None:
        try:
            await handle(items)
            return
        except Exception as error:
            if is_transient(error):
                raise
            log.warning(
                "%s: a batch of %d failed (%r); trying again", self._consumer, len(items), error
            )
        try:
            await handle(items)
        except Exception as error:
            if is_transient(error):
                raise
            raise _FailedTwice(error) from error

    async def _alone(self, item: Item, handle: Handle[Item]) -> None:
        try:
            await handle([item])
        except Exception as error:
            if is_transient(error):
                raise
            await self._dispose(item, error)

    async def _dispose(self, item: Item, error: Exception) -> None:
        where = self._position(item)
        if self._dead_letter is not None:
            try:
                await self._dead_letter(item, error)
            except Exception as failure:
                if is_transient(failure):
                    raise
                error = failure
            else:
                self._dead_lettered.inc()
                log.warning("%s: dead-lettered the record at %s: %r", self._consumer, where, error)
                return
        self._skipped.inc()
        log.error(
            "%s: skipped the record at %s, which cannot be handled: %r",
            self._consumer,
            where,
            error,
        )

    def _count_redelivered(self, items: Sequence[Item]) -> None:
        again = 0
        for item in items:
            where = self._position(item)
            if where is None:
                continue
            key = (where.topic, where.partition)
            seen = self._seen.get(key, 0)
            if where.offset < seen:
                again += 1
            self._seen[key] = max(seen, where.offset + 1)
        if again:
            self._redelivered.inc(again)


class _FailedTwice(Exception):
    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error
