"""Kafka subscriber of the monitor: batches of PredictionMade into the processor."""

from __future__ import annotations

import logging
from typing import Any

from faststream import AckPolicy
from faststream.kafka import KafkaRouter
from faststream.message import StreamMessage
from pydantic import ValidationError

from contracts import PredictionMade
from services.monitor.config import Settings
from services.monitor.metrics import MonitorMetrics
from services.monitor.processor import PredictionProcessor

log = logging.getLogger(__name__)


async def raw_bodies(message: StreamMessage[Any]) -> Any:
    """Keep each record's bytes: one bad message must not fail the decoding of its batch."""
    return list(message.body)


def parse_predictions(bodies: list[bytes], metrics: MonitorMetrics) -> list[PredictionMade]:
    events = []
    for body in bodies:
        try:
            events.append(PredictionMade.model_validate_json(body))
        except ValidationError as exc:
            metrics.invalid_messages.inc()
            log.warning(
                "skipping invalid PredictionMade (%d errors): %.200r", exc.error_count(), body
            )
    return events


def build_router(
    settings: Settings, processor: PredictionProcessor, metrics: MonitorMetrics
) -> KafkaRouter:
    router = KafkaRouter()

    @router.subscriber(
        settings.kafka.topics.predict_results,
        group_id=f"{settings.kafka.topic_prefix}mlbus-monitor",
        auto_offset_reset="earliest",
        batch=True,
        max_records=settings.batch_max_records,
        decoder=raw_bodies,
        # Offsets are committed after the batch, i.e. after drift events were published
        # (or parked in the outbox for a retry): a bad batch never blocks the partition.
        ack_policy=AckPolicy.ACK,
    )
    async def on_predictions(bodies: list[bytes]) -> None:
        await processor.process(parse_predictions(bodies, metrics))

    return router
