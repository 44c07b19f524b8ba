"""The spec feed on the session's broker: specs announced before start, then while running."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import CollectorRegistry

from contracts import HOUSE_PRICES
from mlbus.brokers import Broker
from services.common.broker import make_broker
from services.common.settings import KafkaSettings
from services.common.spec_catalogue import SpecCatalogue
from services.common.spec_feed import SpecFeed
from tests.e2e.test_end_offsets import create_topic
from tests.support.spec_samples import churn, registered, rentals, with_feature

pytestmark = [pytest.mark.e2e, pytest.mark.both_brokers]


async def send(bootstrap: str, topic: str, *values: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value, key=b"k")
    finally:
        await producer.stop()


async def eventually(condition: object, seconds: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "not learned in time"
        await asyncio.sleep(0.1)


async def test_specs_before_start_are_known_at_once_and_later_ones_soon(
    broker: Broker, topic_prefix: str
) -> None:
    bootstrap, topic = broker.bootstrap_servers, f"{topic_prefix}registry.specs.v1"
    await create_topic(bootstrap, topic, partitions=3)
    before = [registered(rentals()), registered(churn())]
    await send(bootstrap, topic, *(e.model_dump_json().encode() for e in before), b"{not a spec")
    kafka = make_broker(
        KafkaSettings(bootstrap_servers=bootstrap), "mlbus-test", registry=CollectorRegistry()
    )
    catalogue = SpecCatalogue(HOUSE_PRICES)
    feed = SpecFeed(kafka, topic, catalogue, catch_up_seconds=20)
    try:
        await feed.catch_up()
        assert catalogue.names() == ("churn", "house-prices", "rentals")
        follower = asyncio.create_task(feed.follow())
        wider = with_feature(rentals(), {"name": "floor", "type": "integer", "nullable": True})
        await send(bootstrap, topic, registered(wider, version=2).model_dump_json().encode())
        await eventually(lambda: (known := catalogue.get("rentals")) and known.version == 2)
        follower.cancel()
    finally:
        await feed.close()
        await kafka.stop()


async def test_a_topic_created_after_start_is_followed(broker: Broker, topic_prefix: str) -> None:
    bootstrap, topic = broker.bootstrap_servers, f"{topic_prefix}registry.specs.v1"
    kafka = make_broker(
        KafkaSettings(bootstrap_servers=bootstrap), "mlbus-test", registry=CollectorRegistry()
    )
    catalogue = SpecCatalogue(HOUSE_PRICES)
    feed = SpecFeed(kafka, topic, catalogue, catch_up_seconds=20, retry_seconds=0.5)
    try:
        await feed.catch_up()
        assert catalogue.names() == ("house-prices",)
        follower = asyncio.create_task(feed.follow())
        await create_topic(bootstrap, topic)
        await send(bootstrap, topic, registered(churn()).model_dump_json().encode())
        await eventually(lambda: catalogue.get("churn") is not None)
        follower.cancel()
    finally:
        await feed.close()
        await kafka.stop()
