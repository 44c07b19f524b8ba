"""How the hot paths hand serialised events to Kafka: one Sender, two ways, chosen in app.py.

`ProducerSender` (production) writes to the broker's connected aiokafka producer directly:
faststream's per-message publish path (command objects, codec, middlewares) costs more than
scoring or routing a record. `BrokerSender` publishes through faststream's broker, the way
faststream's in-memory `TestKafkaBroker` delivers messages to its subscribers. Both return the
future of each event's acknowledgement, so callers wait for acks (or not) the same way.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Protocol

from services.common.broker import raw_producer

if TYPE_CHECKING:
    from collections.abc import Sequence

    from aiokafka import AIOKafkaProducer
    from faststream.kafka import KafkaBroker

Acknowledgement = asyncio.Future[Any]

_JSON_HEADERS = [("content-type", b"application/json")]
_JSON = {"content-type": "application/json"}


class Sender(Protocol):
    """Sends events already serialised as JSON; each send returns its acknowledgement's future
    once the event is handed over (it is then on its way, in the order sent)."""

    async def send(self, topic: str, value: bytes, key: bytes | None) -> Acknowledgement: ...

    async def send_all(
        self, topic: str, values: Sequence[bytes], keys: Sequence[bytes]
    ) -> list[Acknowledgement]:
        """`send` for each value with the key at its index: one call for a batch's outputs."""
        ...


class BrokerNotConnected(RuntimeError):
    """A send before the broker connected (or after it stopped)."""


class ProducerSender:
    """Sends with the aiokafka producer under a faststream broker, once it is connected."""

    def __init__(self, broker: KafkaBroker) -> None:
        self._broker = broker

    def _producer(self) -> AIOKafkaProducer:
        # Looked up on each call: the broker makes a new producer whenever it reconnects.
        producer = raw_producer(self._broker)
        if producer is None:
            raise BrokerNotConnected("the Kafka producer is not connected")
        return producer

    async def send(self, topic: str, value: bytes, key: bytes | None) -> Acknowledgement:
        sent: Acknowledgement = await self._producer().send(
            topic, value, key=key, headers=_JSON_HEADERS
        )
        return sent

    async def send_all(
        self, topic: str, values: Sequence[bytes], keys: Sequence[bytes]
    ) -> list[Acknowledgement]:
        send = self._producer().send  # one lookup per batch: this loop runs for every record
        return [
            await send(topic, value, key=key, headers=_JSON_HEADERS)
            for value, key in zip(values, keys, strict=True)
        ]


class BrokerSender:
    """Sends through faststream's broker: what its in-memory test broker delivers (at once, to
    the subscribers of the topic) and counts in its publish metrics."""

    def __init__(self, broker: KafkaBroker) -> None:
        self._broker = broker

    async def send(self, topic: str, value: bytes, key: bytes | None) -> Acknowledgement:
        sent = await self._broker.publish(value, topic, key=key, headers=_JSON, no_confirm=True)
        if isinstance(sent, asyncio.Future):
            return sent
        # Delivered already (the in-memory broker hands it to its subscribers before returning).
        done: Acknowledgement = asyncio.get_running_loop().create_future()
        done.set_result(sent)
        return done

    async def send_all(
        self, topic: str, values: Sequence[bytes], keys: Sequence[bytes]
    ) -> list[Acknowledgement]:
        return [await self.send(topic, value, key) for value, key in zip(values, keys, strict=True)]
