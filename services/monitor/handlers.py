"""Kafka subscriber of the monitor: batches of PredictionMade into the processor."""

from __future__ import annotations

import logging
from typing import Any, TypeVar

from faststream import AckPolicy
from faststream.kafka import KafkaRouter
from faststream.message import StreamMessage
from pydantic import ValidationError

from contracts import Envelope, PredictionMade, RecordIngested
from services.monitor.config import Settings
from services.monitor.metrics import MonitorMetrics
from services.monitor.processor import PredictionProcessor

log = logging.getLogger(__name__)
EventT = TypeVar("EventT", bound=Envelope)


async def topic_bodies(message: StreamMessage[Any]) -> Any:
    """Each record's topic and bytes: one bad message must not fail the decoding of its batch."""
    raw = message.raw_message
    records = raw if isinstance(raw, tuple | list) else (raw,)
    return [(record.topic, record.value) for record in records]


def parse_events(bodies: list[bytes], model: type[EventT], metrics: MonitorMetrics) -> list[EventT]:
    events = []
    for body in bodies:
        try:
            events.append(model.model_validate_json(body))
        except ValidationError as exc:
            metrics.invalid_messages.inc()
            log.warning(
                "skipping invalid %s (%d errors): %.200r", model.__name__, exc.error_count(), body
            )
    return events


def parse_predictions(bodies: list[bytes], metrics: MonitorMetrics) -> list[PredictionMade]:
    return parse_events(bodies, PredictionMade, metrics)


def build_router(
    settings: Settings, processor: PredictionProcessor, metrics: MonitorMetrics
) -> KafkaRouter:
    router = KafkaRouter()
    topics = settings.kafka.topics

    # One consumer for the three topics: each consumer group costs a join (seconds) at start.
    # Offsets are committed after the batch, i.e. after drift events were published (or
    # parked in the outbox for a retry): a bad batch never blocks the partition.
    @router.subscriber(
        topics.predict_results,
        topics.predict_shadow,
        topics.records,
        group_id=f"{settings.kafka.topic_prefix}mlbus-monitor",
        auto_offset_reset="earliest",
        batch=True,
        max_records=settings.batch_max_records,
        fetch_max_wait_ms=settings.kafka.fetch_max_wait_ms,
        decoder=topic_bodies,
        ack_policy=AckPolicy.ACK,
    )
    async def on_batch(records: list[tuple[str, bytes]]) -> None:
        by_topic: dict[str, list[bytes]] = {}
        for topic, body in records:
            by_topic.setdefault(topic, []).append(body)
        if served := by_topic.get(topics.predict_results):
            await processor.process(parse_predictions(served, metrics))
        if shadow := by_topic.get(topics.predict_shadow):
            processor.process_shadow(parse_predictions(shadow, metrics))
        if labelled := by_topic.get(topics.records):
            processor.process_labels(parse_events(labelled, RecordIngested, metrics))

    return router
