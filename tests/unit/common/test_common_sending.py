"""The two Senders: the aiokafka producer's (production) and the broker's publish (in memory)."""

from __future__ import annotations

import json

import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage
from prometheus_client import CollectorRegistry

from services.common.broker import make_broker
from services.common.sending import BrokerNotConnected, BrokerSender, ProducerSender
from services.common.settings import KafkaSettings


def _broker() -> KafkaBroker:
    return make_broker(KafkaSettings(), "mlbus-test", registry=CollectorRegistry())


async def test_the_producer_sender_refuses_to_send_before_the_broker_connects() -> None:
    with pytest.raises(BrokerNotConnected):
        await ProducerSender(_broker()).send("t", b"{}", None)


async def test_the_broker_sender_is_delivered_by_the_in_memory_broker_and_acknowledged() -> None:
    broker = _broker()
    got: list[tuple[object, bytes | None, str]] = []

    @broker.subscriber("t")
    async def collect(message: KafkaMessage) -> None:
        record = message.raw_message
        assert not isinstance(record, tuple)
        got.append((json.loads(message.body), record.key, message.content_type or ""))

    async with TestKafkaBroker(broker) as connected:
        sender = BrokerSender(connected)
        one = await sender.send("t", b'{"n": 1}', b"k1")
        many = await sender.send_all("t", [b'{"n": 2}', b'{"n": 3}'], [b"k2", b"k3"])
    assert [ack.done() and ack.exception() is None for ack in (one, *many)] == [True] * 3
    json_type = "application/json"
    assert got == [
        ({"n": 1}, b"k1", json_type),
        ({"n": 2}, b"k2", json_type),
        ({"n": 3}, b"k3", json_type),
    ]


async def test_send_all_wants_a_key_per_value() -> None:
    async with TestKafkaBroker(_broker()) as connected:
        with pytest.raises(ValueError, match=r"shorter|longer"):
            await BrokerSender(connected).send_all("t", [b"{}", b"{}"], [b"k"])
