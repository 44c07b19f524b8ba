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


def test_consumers_wait_on_the_broker_unless_told_to_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLBUS_KAFKA_FETCH_MAX_WAIT_MS", raising=False)
    assert KafkaSettings().fetch_max_wait_ms == 500  # Apache Kafka answers once data arrives
    monkeypatch.setenv("MLBUS_KAFKA_FETCH_MAX_WAIT_MS", "10")  # what `mlbus up` sets for tansu
    assert KafkaSettings().fetch_max_wait_ms == 10
