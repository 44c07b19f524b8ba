"""Kafka subscriber of the monitor: batches of PredictionMade and ClassificationMade into the
processor."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from aiokafka import ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaRouter
from faststream.kafka.annotations import KafkaMessage
from faststream.message import StreamMessage
from pydantic import ValidationError

from contracts import PREDICTION_RESULT, Envelope, PredictionResult, RecordIngested
from services.common.poison import PoisonGuard, PoisonMetrics, position_of
from services.common.rebalance import CommitOnRebalance
from services.monitor.checkpointing.checkpointer import Checkpointer
from services.monitor.config import Settings
from services.monitor.metrics import MonitorMetrics
from services.monitor.processor import PredictionProcessor

log = logging.getLogger(__name__)
EventT = TypeVar("EventT", bound=Envelope)
T = TypeVar("T")


async def raw_bodies(message: StreamMessage[Any]) -> Any:
    """Skip faststream's JSON decoding: one bad message must not fail the decoding of its batch."""
    return message.body


def batch_records(raw_message: Any) -> Sequence[ConsumerRecord[Any, Any]]:
    """The records of a batch message (a tuple from Kafka, a list from the test broker)."""
    return raw_message if isinstance(raw_message, tuple | list) else (raw_message,)


def parse_events(bodies: list[bytes], model: type[EventT], metrics: MonitorMetrics) -> list[EventT]:
    return _parse(bodies, model.model_validate_json, model.__name__, metrics)


def parse_predictions(bodies: list[bytes], metrics: MonitorMetrics) -> list[PredictionResult]:
    """PredictionMade (a regressor's) and ClassificationMade (a classifier's), by their kind."""
    return _parse(bodies, PREDICTION_RESULT.validate_json, "prediction result", metrics)


def _parse(
    bodies: list[bytes], validate: Callable[[bytes], T], name: str, metrics: MonitorMetrics
) -> list[T]:
    events = []
    for body in bodies:
        try:
            events.append(validate(body))
        except ValidationError as exc:
            metrics.invalid_messages.inc()
            log.warning("skipping invalid %s (%d errors): %.200r", name, exc.error_count(), body)
    return events


def build_router(
    settings: Settings,
    processor: PredictionProcessor,
    metrics: MonitorMetrics,
    checkpoints: Checkpointer,
    poison: PoisonMetrics,
) -> KafkaRouter:
    router = KafkaRouter()
    topics = settings.kafka.topics
    # A batch whose processing fails twice is processed record by record; a record that still
    # fails is logged with its partition and offset, counted and skipped (events are deduplicated
    # by id, so a record processed again is not counted twice).
    guard = PoisonGuard("monitor", poison, position_of)

    async def process(records: Sequence[ConsumerRecord[Any, Any]]) -> None:
        by_topic: dict[str, list[bytes]] = {}
        for record in records:
            by_topic.setdefault(record.topic, []).append(record.value or b"")
        if served := by_topic.get(topics.predict_results):
            await processor.process(parse_predictions(served, metrics))
        if shadow := by_topic.get(topics.predict_shadow):
            processor.process_shadow(parse_predictions(shadow, metrics))
        if labelled := by_topic.get(topics.records):
            processor.process_labels(parse_events(labelled, RecordIngested, metrics))

    # One consumer for the three topics: each consumer group costs a join (seconds) at start.
    # Offsets are committed by `checkpoints` with the state they lead to, never per batch:
    # a bad batch still never blocks the partition (its offsets are taken all the same).
    @router.subscriber(
        topics.predict_results,
        topics.predict_shadow,
        topics.records,
        group_id=settings.group_id,
        session_timeout_ms=settings.kafka.session_timeout_ms,
        heartbeat_interval_ms=settings.kafka.heartbeat_interval_ms,
        auto_offset_reset="earliest",
        batch=True,
        max_records=settings.batch_max_records,
        fetch_max_wait_ms=settings.kafka.fetch_max_wait_ms,
        decoder=raw_bodies,
        ack_policy=AckPolicy.MANUAL,
        listener=CommitOnRebalance(checkpoints.gate),
        description="Batches of PredictionMade or ClassificationMade (served and shadow results) "
        "and RecordIngested (late labels); each message is parsed on its own, an invalid one is "
        "counted and skipped.",
    )
    async def on_batch(message: KafkaMessage) -> None:
        records = batch_records(message.raw_message)
        consumer = message.consumer
        async with checkpoints.gate.batch(), checkpoints.batch(consumer, records) as admitted:
            await guard.handle(admitted, process)

    return router
