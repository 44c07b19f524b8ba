"""Kafka subscribers of the trainer: labelled records, train commands, drift events."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Annotated, Any, TypeVar

from aiokafka import ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaRouter
from faststream.kafka.annotations import KafkaMessage
from faststream.message import StreamMessage
from pydantic import Field, TypeAdapter, ValidationError

from contracts import DriftDetected, RecordIngested, TrainModel
from services.common.poison import PoisonGuard, PoisonMetrics, batch_records, position_of
from services.common.rebalance import CommitOnRebalance, RebalanceGate
from services.trainer.config import Settings
from services.trainer.datasets import TrainerDatasets

log = logging.getLogger(__name__)

Event = TypeVar("Event")
ControlEvent = Annotated[TrainModel | DriftDetected, Field(discriminator="kind")]
CONTROL_EVENT: TypeAdapter[ControlEvent] = TypeAdapter(ControlEvent)
RECORD: TypeAdapter[RecordIngested] = TypeAdapter(RecordIngested)


async def raw_body(message: StreamMessage[Any]) -> Any:
    """Skip faststream's JSON decoding: a bad message must fail alone, in our own parsing."""
    body = message.body
    return list(body) if isinstance(body, list | tuple) else body


def parse(adapter: TypeAdapter[Event], body: bytes) -> Event | None:
    """`body` validated by `adapter`, or None (logged) when it is not valid."""
    try:
        return adapter.validate_json(body)
    except ValidationError as exc:
        log.warning(
            "trainer: skipping a message that is not a %s (%d errors): %.200r",
            exc.title,
            exc.error_count(),
            body,
        )
        return None


def build_router(
    settings: Settings, datasets: TrainerDatasets, poison: PoisonMetrics
) -> KafkaRouter:
    topics = settings.kafka.topics
    # A batch that fails twice is handled record by record; a record that still fails is
    # logged with its partition and offset, counted and skipped (the trainer has no
    # dead-letter topic of its own: its input was validated by ingest).
    records_guard = PoisonGuard("trainer.records", poison, position_of)
    control_guard = PoisonGuard("trainer.control", poison, position_of)
    control_gate = RebalanceGate("trainer.control")

    async def add_records(batch: Sequence[ConsumerRecord[Any, Any]]) -> None:
        parsed = (parse(RECORD, record.value or b"") for record in batch)
        datasets.add_records([r for r in parsed if r is not None])

    async def control(batch: Sequence[ConsumerRecord[Any, Any]]) -> None:
        for record in batch:
            event = parse(CONTROL_EVENT, record.value or b"")
            if isinstance(event, TrainModel):
                datasets.on_command(event)
            elif isinstance(event, DriftDetected):
                datasets.on_drift(event)

    # A group per subscriber: consumers of different topics sharing a group make every join
    # rebalance all of them (measured on the embedded broker: 17 s until a command was read,
    # and the never-committed records consumer re-read its topic on each rebalance).
    group_id = settings.group_id
    router = KafkaRouter()

    @router.subscriber(
        topics.records,
        group_id=group_id,
        session_timeout_ms=settings.kafka.session_timeout_ms,
        heartbeat_interval_ms=settings.kafka.heartbeat_interval_ms,
        auto_offset_reset="earliest",
        batch=True,
        max_records=settings.batch_max_records,
        fetch_max_wait_ms=settings.kafka.fetch_max_wait_ms,
        decoder=raw_body,
        # Never committed: the buffer lives in memory, so after a restart the trainer reads
        # the retained records again from the earliest offset and rebuilds it.
        ack_policy=AckPolicy.MANUAL,
    )
    async def on_records(bodies: list[bytes], message: KafkaMessage) -> None:
        # The bodies are read from the records (the guard may hand them over one at a time).
        await records_guard.handle(batch_records(message.raw_message), add_records)

    @router.subscriber(
        topics.trainer_commands,
        topics.drift,
        group_id=f"{group_id}-control",
        session_timeout_ms=settings.kafka.session_timeout_ms,
        heartbeat_interval_ms=settings.kafka.heartbeat_interval_ms,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=settings.kafka.fetch_max_wait_ms,
        decoder=raw_body,
        # Committed once the run is requested, through the gate: never under a generation
        # that is gone (a rebalance); a command consumed as its partition moves comes again.
        ack_policy=AckPolicy.MANUAL,
        listener=CommitOnRebalance(control_gate),
    )
    async def on_control(body: bytes, message: KafkaMessage) -> None:
        """TrainModel commands and DriftDetected events: both ask for a run."""
        async with control_gate.batch() as turn:
            if not turn.current:
                return  # its partition is being revoked: its next owner reads it
            await control_guard.handle(batch_records(message.raw_message), control)
            await turn.ack(message)

    return router
