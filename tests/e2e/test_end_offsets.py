"""End offsets on the session's broker (run with --broker tansu and --broker kafka).

tansu reports the first offset of the last batch + 1 as a partition's end; everything that
reads end offsets goes through services.common.offsets.log_end_offsets, checked here after
batches of 5 and 21 records (26 records: the true end is 26, tansu alone says 6).
"""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from mlbus.brokers import Broker
from services.common.offsets import log_end_offsets

# What brokers do differently: on tansu (test-fast) as well as Apache Kafka (test-kafka).
pytestmark = [pytest.mark.e2e, pytest.mark.both_brokers]

BATCHES = (5, 21)


async def create_topic(bootstrap: str, topic: str, partitions: int = 1) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, replication_factor=1)])
    finally:
        await admin.close()


async def produce_batches(bootstrap: str, topic: str, sizes: tuple[int, ...] = BATCHES) -> None:
    """One producer batch per size, on partition 0, each acknowledged before the next."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for batch_number, size in enumerate(sizes):
            batch = producer.create_batch()
            for index in range(size):
                value = f'{{"batch": {batch_number}, "index": {index}}}'.encode()
                assert batch.append(key=None, value=value, timestamp=None) is not None
            await (await producer.send_batch(batch, topic, partition=0))
    finally:
        await producer.stop()


async def test_log_end_offsets_are_one_past_the_last_record(
    broker: Broker, topic_prefix: str
) -> None:
    topic, empty = f"{topic_prefix}batches", f"{topic_prefix}empty"
    bootstrap = broker.bootstrap_servers
    await create_topic(bootstrap, topic)
    await create_topic(bootstrap, empty, partitions=2)
    await produce_batches(bootstrap, topic)
    partitions = [TopicPartition(topic, 0), TopicPartition(empty, 0), TopicPartition(empty, 1)]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        ends = await log_end_offsets(consumer, partitions)
    finally:
        await consumer.stop()
    assert ends == {partitions[0]: sum(BATCHES), partitions[1]: 0, partitions[2]: 0}
