"""The shared broker plumbing: the raw producer is used only once a real one is connected."""

from __future__ import annotations

from typing import Any

import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker
from prometheus_client import CollectorRegistry

from services.common.broker import (
    IDLE_WAIT_MS,
    _until_records,
    make_broker,
    raw_producer,
    wait_for_records,
)
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


async def test_a_waiting_getmany_returns_the_first_records_and_waits_long_meanwhile() -> None:
    calls: list[int] = []
    answers: list[dict[str, list[int]]] = [{}, {}, {"tp": [1, 2]}]

    async def getmany(*_: object, timeout_ms: int = 0, max_records: int | None = None) -> Any:
        calls.append(timeout_ms)
        return answers.pop(0)

    wait = _until_records(getmany)
    assert await wait(timeout_ms=5, max_records=10) == {"tp": [1, 2]}
    assert calls == [IDLE_WAIT_MS] * 3  # faststream's 5 ms becomes a long wait on the broker


async def test_only_started_batch_subscribers_of_a_real_client_are_changed() -> None:
    broker = make_broker(KafkaSettings(), "mlbus-test", registry=CollectorRegistry())

    @broker.subscriber("t", batch=True)
    async def handle(bodies: list[bytes]) -> None: ...

    async with TestKafkaBroker(broker) as connected:
        assert wait_for_records(connected) == 0  # the in-memory broker keeps faststream's loop
