"""The Kafka side of ingest: raw messages in, routed by the shared Ingestor."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaRouter
from faststream.kafka.annotations import KafkaMessage
from faststream.message import StreamMessage

from services.ingest.config import Settings
from services.ingest.routing import Ingestor, Origin

Parser = Callable[[ConsumerRecord[Any, Any]], Awaitable[StreamMessage[Any]]]


async def raw_body(message: StreamMessage[Any]) -> bytes:
    """The message bytes as they are: malformed JSON must reach the handler to be dead-lettered."""
    body = message.body
    return body if isinstance(body, bytes) else bytes(body)


async def tolerant_parser(record: ConsumerRecord[Any, Any], original: Parser) -> StreamMessage[Any]:
    """faststream's parser, but binary header values are decoded with replacement.

    faststream decodes header values as strict UTF-8; a binary header (tracing, other clients)
    would make the message unreadable, so it would be skipped instead of dead-lettered.
    """
    try:
        return await original(record)
    except UnicodeDecodeError:
        headers = [(k, v.decode("utf-8", errors="replace").encode()) for k, v in record.headers]
        readable = dataclasses.replace(record, headers=headers)
        if hasattr(record, "consumer"):  # set by faststream on each message; commits use it
            readable.consumer = record.consumer
        return await original(readable)


def build_router(settings: Settings, ingestor: Ingestor) -> KafkaRouter:
    router = KafkaRouter()

    @router.subscriber(
        settings.kafka.topics.raw,
        group_id=settings.group_id,
        auto_offset_reset="earliest",
        # Commit after the outputs are published; a failed publish rewinds to the message.
        ack_policy=AckPolicy.NACK_ON_ERROR,
        parser=tolerant_parser,
        decoder=raw_body,
    )
    async def on_raw(body: bytes, message: KafkaMessage) -> None:
        record = message.raw_message
        assert not isinstance(record, tuple)  # a single-message subscriber
        origin = Origin(source=record.topic, partition=record.partition, offset=record.offset)
        await ingestor.ingest(body, origin)

    return router
