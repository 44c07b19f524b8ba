"""The shared broker plumbing: the raw producer is used only once a real one is connected."""

from __future__ import annotations

from typing import Any

import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker
from prometheus_client import CollectorRegistry

from services.common.broker import (
    IDLE_WAIT_MS,
    _until_records,
    bootstrap_list,
    make_broker,
    producer_acks,
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


def test_producers_ack_with_the_leader_unless_a_cluster_asks_for_all_replicas(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("MLBUS_KAFKA_PRODUCER_ACKS", "MLBUS_KAFKA_PRODUCER_IDEMPOTENCE"):
        monkeypatch.delenv(name, raising=False)
    assert producer_acks(KafkaSettings()) == 1
    assert KafkaSettings().producer_idempotence is False
    monkeypatch.setenv("MLBUS_KAFKA_PRODUCER_ACKS", "all")
    monkeypatch.setenv("MLBUS_KAFKA_PRODUCER_IDEMPOTENCE", "true")
    settings = KafkaSettings()
    assert (producer_acks(settings), settings.producer_idempotence) == ("all", True)
    assert producer_acks(KafkaSettings(producer_acks="0", producer_idempotence=False)) == 0


def test_every_node_of_a_cluster_is_a_bootstrap_server_of_its_own() -> None:
    settings = KafkaSettings(bootstrap_servers="127.0.0.1:1, 127.0.0.1:2,127.0.0.1:3,")
    assert bootstrap_list(settings) == ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"]
    broker = make_broker(settings, "mlbus-test", registry=CollectorRegistry())
    assert broker.config.builder.keywords["bootstrap_servers"] == bootstrap_list(settings)


def test_idempotence_without_all_acks_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="IDEMPOTENCE needs MLBUS_KAFKA_PRODUCER_ACKS=all"):
        KafkaSettings(producer_acks="1", producer_idempotence=True)


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
