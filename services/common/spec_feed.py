"""Reads registry.specs.v1 into a SpecCatalogue: all of it before consuming, then as it grows.

Every replica of every service reads the whole topic (no consumer group, no commits): it is
a small compacted table, and each replica needs every data set. Reading it to its end before
the service's subscribers start means that a record of a data set registered before the
service started is never dead-lettered as unknown while the service catches up.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from aiokafka import TopicPartition
from pydantic import ValidationError

from contracts import SPEC_EVENT
from services.common.broker import raw_producer
from services.common.offsets import log_end_offsets

if TYPE_CHECKING:
    from faststream.kafka import KafkaBroker

    from services.common.settings import KafkaSettings
    from services.common.spec_catalogue import SpecCatalogue

log = logging.getLogger(__name__)

RETRY_SECONDS = 5.0  # while the topic does not exist yet


def spec_feed(
    settings: KafkaSettings, broker: KafkaBroker, catalogue: SpecCatalogue
) -> SpecFeed | None:
    """The feed a service reads its data sets from; None when `follow_specs` is off."""
    if not settings.follow_specs:
        return None
    return SpecFeed(broker, settings.topics.specs, catalogue)


class SpecFeed:
    """`catch_up` (before consuming), then `follow` (a background job) and `close`."""

    def __init__(
        self,
        broker: KafkaBroker,
        topic: str,
        catalogue: SpecCatalogue,
        *,
        catch_up_seconds: float = 30.0,
        retry_seconds: float = RETRY_SECONDS,
    ) -> None:
        self._broker = broker
        self._topic = topic
        self._catalogue = catalogue
        self._catch_up_seconds = catch_up_seconds
        self._retry_seconds = retry_seconds
        self._consumer: Any = None
        self._assigned: list[TopicPartition] = []

    async def catch_up(self) -> None:
        """Read every spec announced so far; a missing topic is not an error (none yet)."""
        await self.close()  # a failed try's consumer, when the service retries its start
        builder = await self._broker.connect()  # aiokafka's consumer with the broker's settings
        self._consumer = builder(
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await self._consumer.start()
        async with asyncio.timeout(self._catch_up_seconds):  # not wait_for: it can drop a cancel
            await self._read_to_end()
        log.info("spec feed: %d data sets known: %s", len(self._catalogue), self._catalogue.names())

    async def follow(self) -> None:
        """Learn each spec announced from now on (runs until cancelled)."""
        while not self._assigned:
            await asyncio.sleep(self._retry_seconds)
            await self._assign()
        while True:
            fetched = await self._consumer.getmany(timeout_ms=1000)
            for records in fetched.values():
                self._learn_all(records)

    async def close(self) -> None:
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            await consumer.stop()

    async def _read_to_end(self) -> None:
        if not await self._assign():
            return
        ends = await log_end_offsets(self._consumer, self._assigned)
        self._consumer.assign(self._assigned)
        await self._consumer.seek_to_beginning(*self._assigned)
        while await self._behind(ends):
            fetched = await self._consumer.getmany(*self._assigned, timeout_ms=200)
            for records in fetched.values():
                self._learn_all(records)

    async def _behind(self, ends: dict[TopicPartition, int]) -> bool:
        positions = [await self._consumer.position(p) for p in self._assigned]
        return any(
            position < ends[p] for position, p in zip(positions, self._assigned, strict=True)
        )

    async def _assign(self) -> bool:
        partitions = await self._partitions()
        if not partitions:
            return False
        self._assigned = [TopicPartition(self._topic, p) for p in sorted(partitions)]
        self._consumer.assign(self._assigned)
        return True

    async def _partitions(self) -> set[int]:
        """The topic's partitions; empty while it does not exist (it is never auto-created)."""
        if self._topic not in await self._consumer.topics():  # a fresh look at all topics
            return set()
        producer = raw_producer(self._broker)
        if producer is None:  # not connected: the consumer's own metadata may know it
            return set(self._consumer.partitions_for_topic(self._topic) or ())
        return set(await producer.partitions_for(self._topic))

    def _learn_all(self, records: list[Any]) -> None:
        for record in records:
            if record.value is None:  # a tombstone: retiring is SpecRetired's job, not this
                continue
            try:
                event = SPEC_EVENT.validate_json(record.value)
            except ValidationError as exc:  # not a spec event: skipped, the feed goes on
                log.warning("spec feed: offset %d is not a spec event: %s", record.offset, exc)
                continue
            self._catalogue.learn(event)
