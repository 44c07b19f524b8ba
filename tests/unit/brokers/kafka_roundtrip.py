"""Produce, consume and inspect with aiokafka: what every broker test checks end to end."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import TopicPartition

from tests.support.polling import eventually


async def produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for index, value in enumerate(values):
            await producer.send_and_wait(topic, value, key=f"key-{index}".encode())
    finally:
        await producer.stop()


async def consume(
    bootstrap: str, topic: str, group: str, expected: int, timeout: float = 20.0
) -> list[bytes]:
    """Read until `expected` values arrived or `timeout` passed, commit, return what was read."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        # tansu holds a new group's JoinGroup for half the session timeout (10 s by default);
        # 6 s is the smallest session Apache Kafka accepts.
        session_timeout_ms=6000,
    )
    await consumer.start()
    values: list[bytes] = []
    deadline = asyncio.get_running_loop().time() + timeout
    try:
        while len(values) < expected and asyncio.get_running_loop().time() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            values += [rec.value for batch in batches.values() for rec in batch if rec.value]
        await consumer.commit()
    finally:
        await consumer.stop()
    return values


async def partitions_of(bootstrap: str, topic: str) -> set[int]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        return set(await producer.partitions_for(topic))
    finally:
        await producer.stop()


async def committed_total(bootstrap: str, topic: str, group: str) -> int:
    """Sum of the group's committed offsets over the topic's partitions (= messages consumed)."""
    partitions = await partitions_of(bootstrap, topic)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await consumer.start()
    try:
        offsets = [await consumer.committed(TopicPartition(topic, p)) for p in partitions]
    finally:
        await consumer.stop()
    return sum(offset for offset in offsets if offset is not None)


async def create_topic(bootstrap: str, topic: str, partitions: int) -> dict[str, int]:
    """Create `topic`; return every topic's partition count as the broker then describes it."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, replication_factor=1)])
        # The controller answers before the broker's metadata has the partitions: a describe
        # right after may list none yet.
        described = await eventually(
            lambda: admin.describe_topics([topic]),
            what=f"{topic}'s partitions in the broker's metadata",
            until=lambda found: all(item["partitions"] for item in found),
            timeout=15,
        )
    finally:
        await admin.close()
    return {item["topic"]: len(item["partitions"]) for item in described}
