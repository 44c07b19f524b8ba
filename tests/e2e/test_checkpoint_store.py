"""The monitor's checkpoint store on the session's broker (run with --broker tansu and kafka).

Its read starts from the partition's end offset, which tansu reports short (one past the first
record of the last batch): the latest value must still be the last one written.
"""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import murmur2
from prometheus_client import CollectorRegistry

from mlbus.brokers import Broker
from services.common.broker import make_broker
from services.common.settings import KafkaSettings
from services.monitor.checkpointing.kafka_store import KafkaCheckpointStore
from tests.e2e.test_end_offsets import create_topic

# What brokers do differently: on tansu (test-fast) as well as Apache Kafka (test-kafka).
pytestmark = [pytest.mark.e2e, pytest.mark.both_brokers]

PARTITIONS = 3


async def send_one_batch(bootstrap: str, topic: str, key: bytes, values: list[bytes]) -> None:
    """`values` for `key` in a single producer batch, where the store looks for the key."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        batch = producer.create_batch()
        for value in values:
            assert batch.append(key=key, value=value, timestamp=None) is not None
        partition = (murmur2(key) & 0x7FFFFFFF) % PARTITIONS
        await (await producer.send_batch(batch, topic, partition=partition))
    finally:
        await producer.stop()


async def test_the_latest_checkpoint_is_the_last_one_written(
    broker: Broker, topic_prefix: str
) -> None:
    bootstrap, topic = broker.bootstrap_servers, f"{topic_prefix}checkpoints"
    await create_topic(bootstrap, topic, partitions=PARTITIONS)
    kafka = make_broker(
        KafkaSettings(bootstrap_servers=bootstrap), "mlbus-test", registry=CollectorRegistry()
    )
    await kafka.start()
    try:
        store = KafkaCheckpointStore(kafka, topic, "group-a", read_timeout=10)
        other = KafkaCheckpointStore(kafka, topic, "group-b", read_timeout=10)
        assert await store.latest() is None  # nothing written yet
        await store.write(b"a-1")
        await other.write(b"b-1")
        await send_one_batch(bootstrap, topic, b"group-a", [b"a-2", b"a-3", b"a-4", b"a-5"])
        await other.write(b"b-2")
        assert await store.latest() == b"a-5"
        assert await other.latest() == b"b-2"
    finally:
        await kafka.stop()
