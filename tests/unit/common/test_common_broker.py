"""The shared broker plumbing: the raw producer is used only once a real one is connected."""

from __future__ import annotations

import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker
from prometheus_client import CollectorRegistry

from services.common.broker import make_broker, raw_producer
from services.common.settings import KafkaSettings


def test_no_raw_producer_before_connecting() -> None:
    assert raw_producer(KafkaBroker("localhost:1")) is None


async def test_no_raw_producer_in_the_in_memory_test_broker() -> None:
    broker = make_broker(KafkaSettings(), "mlbus-test", registry=CollectorRegistry())
    async with TestKafkaBroker(broker) as connected:
        assert raw_producer(connected) is None  # tests go through faststream's publisher


def test_every_consumer_fetches_with_a_short_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    assert KafkaSettings().fetch_max_wait_ms == 10
    monkeypatch.setenv("MLBUS_KAFKA_FETCH_MAX_WAIT_MS", "250")
    assert KafkaSettings().fetch_max_wait_ms == 250
