"""Batch subscribers that wait on the broker still get every record (session broker)."""

from __future__ import annotations

import asyncio

import pytest
from faststream.kafka import KafkaBroker
from prometheus_client import CollectorRegistry

from mlbus.brokers import Broker
from services.common.broker import make_broker, wait_for_records
from services.common.settings import KafkaSettings

# What brokers do differently: on tansu (test-fast) as well as Apache Kafka (test-kafka).
pytestmark = [pytest.mark.e2e, pytest.mark.both_brokers]


async def test_a_waiting_batch_subscriber_gets_records_sent_after_a_quiet_spell(
    broker: Broker, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}waiting"
    kafka: KafkaBroker = make_broker(
        KafkaSettings(bootstrap_servers=broker.bootstrap_servers),
        "mlbus-test",
        registry=CollectorRegistry(),
    )
    received: asyncio.Queue[list[bytes]] = asyncio.Queue()

    @kafka.subscriber(
        topic, group_id=f"{topic_prefix}g", auto_offset_reset="earliest", batch=True,
        batch_timeout_ms=5,
    )  # fmt: skip
    async def handle(bodies: list[bytes]) -> None:
        await received.put(bodies)

    await kafka.start()
    try:
        assert wait_for_records(kafka) == 1
        await asyncio.sleep(2.5)  # idle: the consumer waits in getmany, across several waits
        await kafka.publish(b"first", topic)
        assert await asyncio.wait_for(received.get(), 30) == [b"first"]
        await kafka.publish(b"second", topic)
        assert await asyncio.wait_for(received.get(), 30) == [b"second"]
    finally:
        await asyncio.wait_for(kafka.stop(), 15)  # stopping cancels a waiting getmany
