"""The Kafka side of ingest: batches of raw messages in, routed by the shared Ingestor."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeAlias

from aiokafka import ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaRouter
from faststream.kafka.annotations import KafkaMessage
from faststream.message import StreamMessage

from contracts import (
    DATASET_HEADER,
    Envelope,
    PredictionRequested,
    RecordIngested,
    RecordIngestedV2,
    RecordRejected,
    Topics,
)
from services.common.poison import PoisonGuard, PoisonMetrics, Position
from services.common.rebalance import CommitOnRebalance, RebalanceGate
from services.common.sending import Acknowledgement, Sender
from services.ingest.config import Settings
from services.ingest.routing import Ingestor, Message, Origin, Send

Record: TypeAlias = ConsumerRecord[Any, Any]
# A batch is a tuple from aiokafka, a list from faststream's in-memory test broker.
Records: TypeAlias = Record | tuple[Record, ...] | list[Record]
Parser = Callable[[Any], Awaitable[StreamMessage[Any]]]


async def raw_bodies(message: StreamMessage[Any]) -> list[bytes]:
    """The messages' bytes as they are: malformed JSON must reach the handler, to be rejected."""
    return [record.value or b"" for record in _records(message.raw_message)]


def _records(raw: Records) -> tuple[Record, ...]:
    return tuple(raw) if isinstance(raw, tuple | list) else (raw,)


def _readable(record: Record) -> Record:
    """`record` with binary header values decoded with replacement."""
    headers = [(k, v.decode("utf-8", errors="replace").encode()) for k, v in record.headers]
    readable = dataclasses.replace(record, headers=headers)
    if hasattr(record, "consumer"):  # set by faststream on each message; commits use it
        readable.consumer = record.consumer
    return readable


async def tolerant_parser(records: Records, original: Parser) -> StreamMessage[Any]:
    """faststream's parser, but binary header values are decoded with replacement.

    faststream decodes header values as strict UTF-8; a binary header (tracing, other clients)
    would make the message unreadable, so it would be skipped instead of dead-lettered.
    """
    try:
        return await original(records)
    except UnicodeDecodeError:
        if isinstance(records, tuple):
            return await original(tuple(_readable(record) for record in records))
        if isinstance(records, list):
            return await original([_readable(record) for record in records])
        return await original(_readable(records))


def output_sender(
    broker: KafkaBroker, topics: Topics, sender: Sender, *, v2_topic: str | None = None
) -> Send:
    """Declares ingest's outputs (they appear in the AsyncAPI document); sends with `sender`."""
    outputs: list[tuple[str, type[Envelope], str]] = [
        (topics.records, RecordIngested, "Accepted labelled records, for training."),
        (topics.predict_requests, PredictionRequested, "Accepted unlabelled records, to score."),
        (topics.rejected, RecordRejected, "Rejected and duplicate records, with every reason."),
    ]
    if v2_topic is not None:
        outputs.append((v2_topic, RecordIngestedV2, "Accepted labelled records, version 2."))
    for topic, schema, description in outputs:
        broker.publisher(topic, schema=schema, description=description)

    async def send(event: Envelope, body: bytes, topic: str, key: bytes | None) -> Acknowledgement:
        # `body` is serialised by the Ingestor, per record: twice as fast as faststream's encoder
        # for a pydantic model, and a record whose event cannot be serialised fails alone.
        return await sender.send(topic, body, key)

    return send


def build_router(settings: Settings, ingestor: Ingestor, poison: PoisonMetrics) -> KafkaRouter:
    router = KafkaRouter()
    gate = RebalanceGate("ingest")
    guard = PoisonGuard("ingest.raw", poison, _position, dead_letter=ingestor.dead_letter)

    async def handle(messages: Sequence[Message]) -> None:
        await ingestor.ingest_batch(messages)

    @router.subscriber(
        settings.kafka.topics.raw,
        group_id=settings.group_id,
        session_timeout_ms=settings.kafka.session_timeout_ms,
        heartbeat_interval_ms=settings.kafka.heartbeat_interval_ms,
        auto_offset_reset="earliest",
        batch=True,
        max_records=settings.batch_max_records,
        batch_timeout_ms=settings.batch_timeout_ms,
        fetch_max_wait_ms=settings.kafka.fetch_max_wait_ms,
        # Committed once the batch's outputs are acknowledged, through the gate: never under
        # a generation that is gone (a rebalance). A failed publish rewinds to the batch.
        ack_policy=AckPolicy.MANUAL,
        listener=CommitOnRebalance(gate),
        parser=tolerant_parser,
        decoder=raw_bodies,
        title="ingest.raw",
        description="Raw records: a JSON object or a JSON array of objects per message; the"
        " header mlbus-dataset names their data set (none: the one ingest started with).",
    )
    async def on_raw(bodies: list[bytes], message: KafkaMessage) -> None:
        async with gate.batch() as turn:
            if not turn.current:
                return  # consumed as its partitions were revoked: consumed again from the commit
            records = _records(message.raw_message)
            try:
                # A message that fails its batch twice is handled alone, then dead-lettered alone.
                await guard.handle(_messages(bodies, records), handle)
            except Exception:
                if turn.current:  # rewind to the batch; revoked partitions are not ours to seek
                    await message.nack()
                raise
            await turn.ack(message)

    return router


def _position(message: Message) -> Position | None:
    origin = message.origin
    if origin.partition is None or origin.offset is None:
        return None
    return Position(origin.source, origin.partition, origin.offset)


def _messages(
    bodies: Sequence[bytes], records: Sequence[ConsumerRecord[Any, Any]]
) -> list[Message]:
    return [
        Message(
            body,
            Origin(source=record.topic, partition=record.partition, offset=record.offset),
            dataset_of(record),
        )
        for body, record in zip(bodies, records, strict=True)
    ]


def dataset_of(record: Record) -> str | None:
    """The data set a raw message names in its header (the first one); None when it names none.

    A value that is not UTF-8 is decoded with replacement: no data set is named so, so its
    records are dead-lettered as of an unknown data set rather than taken for the default.
    """
    for name, value in record.headers or ():
        if name == DATASET_HEADER:
            return bytes(value or b"").decode("utf-8", errors="replace")
    return None
