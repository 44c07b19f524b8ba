"""Kafka subscribers of the predictor: batches of requests to the pipeline, model events to the
models being served."""

from __future__ import annotations

import logging
from typing import Any

from aiokafka import ConsumerRebalanceListener, TopicPartition
from faststream import AckPolicy
from faststream.kafka import KafkaRouter
from faststream.kafka.annotations import KafkaMessage
from faststream.message import StreamMessage
from pydantic import ValidationError

from contracts import MODEL_EVENT
from services.common.broker import FETCHER_WAKE_MS
from services.predictor.config import Settings
from services.predictor.pipeline import BatchPipeline
from services.predictor.servings import Servings

log = logging.getLogger(__name__)


async def _raw_body(message: StreamMessage[Any]) -> Any:
    """Skip faststream's JSON decoding: a bad message must fail alone, in our own parsing."""
    return message.body


class DrainOnRebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    """Tells the pipeline when the group moves the request partitions. aiokafka awaits
    `on_partitions_revoked` before it rejoins the group: the pipeline commits what it can
    while its generation still owns the partitions, and nothing until they are assigned."""

    def __init__(self, pipeline: BatchPipeline) -> None:
        self._pipeline = pipeline

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._pipeline.revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self._pipeline.assigned(assigned)


def build_router(settings: Settings, pipeline: BatchPipeline, servings: Servings) -> KafkaRouter:
    """The subscribers, and the outputs the pipeline sends to (declared for the AsyncAPI
    document)."""
    topics = settings.kafka.topics
    router = KafkaRouter()
    router.publisher(topics.predict_results)
    router.publisher(topics.predict_shadow)
    router.publisher(topics.rejected)

    @router.subscriber(
        topics.predict_requests,
        group_id=settings.group_id,
        session_timeout_ms=settings.kafka.session_timeout_ms,
        heartbeat_interval_ms=settings.kafka.heartbeat_interval_ms,
        auto_offset_reset="earliest",
        batch=True,
        max_records=settings.batch_max_records,
        batch_timeout_ms=settings.batch_timeout_ms,
        fetch_max_wait_ms=settings.kafka.fetch_max_wait_ms,
        consumer_timeout_ms=FETCHER_WAKE_MS,
        # The pipeline commits offsets once the batch's outputs are acknowledged; on an error
        # it rewinds the batch (nack) to score it again.
        ack_policy=AckPolicy.MANUAL,
        listener=DrainOnRebalance(pipeline),
        decoder=_raw_body,
    )
    async def score_batch(message: KafkaMessage) -> None:
        await pipeline.take(message)

    @router.subscriber(
        topics.models,
        auto_offset_reset="latest",
        consumer_timeout_ms=FETCHER_WAKE_MS,
        decoder=_raw_body,
    )
    async def on_model_event(body: bytes) -> None:
        """Every instance sees every model event (no group): reload the aliases it concerns."""
        try:
            event = MODEL_EVENT.validate_json(body)
        except ValidationError as exc:
            log.warning("predictor: ignoring an unreadable model event: %s", exc)
            return
        await servings.follow(event)

    return router
