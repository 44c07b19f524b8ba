"""The monitor's checkpoints on a compacted topic, one key per consumer group."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.partitioner import murmur2

from services.common.broker import raw_producer
from services.common.offsets import log_end_offsets

if TYPE_CHECKING:
    from faststream.kafka import KafkaBroker


class KafkaCheckpointStore:
    """Writes through the broker's producer; reads the key's partition back from its end."""

    def __init__(
        self, broker: KafkaBroker, topic: str, key: str, *, read_timeout: float = 30.0
    ) -> None:
        self._broker = broker
        self._topic = topic
        self._key = key.encode()
        self._read_timeout = read_timeout

    async def write(self, value: bytes) -> None:
        producer = self._producer()
        partition = await self._partition(producer)
        sent = await producer.send(self._topic, value, key=self._key, partition=partition)
        await sent

    async def latest(self) -> bytes | None:
        partition = TopicPartition(self._topic, await self._partition(self._producer()))
        builder = await self._broker.connect()  # aiokafka's consumer with the broker's settings
        consumer = builder(enable_auto_commit=False)
        await consumer.start()
        try:
            return await asyncio.wait_for(
                _last_value(consumer, partition, self._key), self._read_timeout
            )
        finally:
            await consumer.stop()

    def _producer(self) -> AIOKafkaProducer:
        producer = raw_producer(self._broker)
        if producer is None:
            raise RuntimeError("the monitor's broker is not connected")
        return producer

    async def _partition(self, producer: AIOKafkaProducer) -> int:
        """The key's partition as Kafka's default partitioner picks it, whatever the producer's."""
        partitions = sorted(await producer.partitions_for(self._topic))
        return int(partitions[(murmur2(self._key) & 0x7FFFFFFF) % len(partitions)])


async def _last_value(consumer: Any, partition: TopicPartition, key: bytes) -> bytes | None:
    """The latest value of `key`: reads the partition's tail, looking further back each time."""
    begin = (await consumer.beginning_offsets([partition]))[partition]
    end = (await log_end_offsets(consumer, [partition]))[partition]
    consumer.assign([partition])
    span = 1
    while True:
        start = max(begin, end - span)
        consumer.seek(partition, start)
        seen, value = await _read_to_end(consumer, partition, end, key)
        if seen or start <= begin:
            return value
        span *= 8


async def _read_to_end(
    consumer: Any, partition: TopicPartition, end: int, key: bytes
) -> tuple[bool, bytes | None]:
    """Whether `key` occurs from the position up to `end`; its last value (None: a tombstone)."""
    seen, value = False, None
    while await consumer.position(partition) < end:
        batch = await consumer.getmany(partition, timeout_ms=200)
        for record in batch.get(partition, []):
            if record.offset < end and record.key == key:
                seen, value = True, record.value
    return seen, value
