"""Kafka subscribers of the predictor: batches of requests in, predictions out; model events."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from aiokafka import ConsumerRecord
from faststream import AckPolicy
from faststream.exceptions import NackMessage
from faststream.kafka import KafkaRouter
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.publisher.usecase import DefaultPublisher
from faststream.message import StreamMessage
from pydantic import BaseModel, ValidationError

from contracts import MODEL_EVENT, ModelPromoted, ModelRolledBack
from services.predictor.config import Settings
from services.predictor.metrics import PredictorMetrics
from services.predictor.model import LoadedModel
from services.predictor.registry_client import CHAMPION
from services.predictor.scoring import RawRequest, parse_requests, score_requests
from services.predictor.serving import ChampionReloader, ModelHolder

log = logging.getLogger(__name__)


async def _raw_body(message: StreamMessage[Any]) -> Any:
    """Skip faststream's JSON decoding: a bad message must fail alone, in our own parsing."""
    return message.body


def build_router(
    settings: Settings,
    holder: ModelHolder,
    reloader: ChampionReloader,
    metrics: PredictorMetrics,
) -> KafkaRouter:
    topics = settings.kafka.topics
    router = KafkaRouter()
    results = router.publisher(topics.predict_results)
    rejected = router.publisher(topics.rejected)

    @router.subscriber(
        topics.predict_requests,
        group_id=f"{settings.kafka.topic_prefix}mlbus-predictor",
        auto_offset_reset="earliest",
        batch=True,
        max_records=settings.batch_max_records,
        batch_timeout_ms=settings.batch_timeout_ms,
        # Commit only after the batch's output is published; on an error rewind and retry.
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=_raw_body,
    )
    async def score_batch(message: KafkaMessage) -> None:
        model = holder.current or await _wait_for_model(holder, settings.model_wait_seconds)
        raws = [_raw_request(record) for record in _records(message.raw_message)]
        metrics.batch_size.observe(len(raws))
        parsed, rejections = parse_requests(raws)
        scored = score_requests(model, parsed)
        metrics.inference_seconds.observe(scored.inference_seconds)
        rejections.extend(scored.rejections)
        await _publish_all(
            [(results, p, p.record_id) for p in scored.predictions]
            + [(rejected, r, r.record_id) for r in rejections]
        )
        _count(metrics, model, len(scored.predictions), len(rejections))

    @router.subscriber(topics.models, auto_offset_reset="latest", decoder=_raw_body)
    async def on_model_event(body: bytes) -> None:
        """Every instance sees every model event (no group): reload on a champion move."""
        try:
            event = MODEL_EVENT.validate_json(body)
        except ValidationError as exc:
            log.warning("predictor: ignoring an unreadable model event: %s", exc)
            return
        if not isinstance(event, ModelPromoted | ModelRolledBack):
            return
        if event.model_name != settings.model_name or event.alias != CHAMPION:
            return
        log.info("predictor: %s for %s v%d", event.kind, event.model_name, event.version)
        await reloader.reload_champion()

    return router


async def _wait_for_model(holder: ModelHolder, timeout_seconds: float) -> LoadedModel:
    """The first model; if none comes in time, hand the batch back to Kafka to ask again."""
    try:
        return await asyncio.wait_for(holder.wait_ready(), timeout_seconds)
    except TimeoutError:
        log.info("predictor: no model loaded yet; requests wait for a promoted model")
        raise NackMessage() from None


def _records(raw_message: Any) -> Iterable[ConsumerRecord[Any, Any]]:
    """The consumed records of a batch message (a tuple from Kafka, a list from the test broker)."""
    if isinstance(raw_message, list | tuple):
        return raw_message
    return (raw_message,)


def _raw_request(record: ConsumerRecord[Any, Any]) -> RawRequest:
    value = record.value if isinstance(record.value, bytes) else b""
    return RawRequest(value, record.topic, record.partition, record.offset)


async def _publish_all(outputs: list[tuple[DefaultPublisher, BaseModel, str | None]]) -> None:
    """Hand every output to the producer, then await all acknowledgements together."""
    pending = []
    for publisher, event, record_id in outputs:
        key = record_id.encode() if record_id is not None else None
        pending.append(await publisher.publish(event, key=key, no_confirm=True))
    # The in-memory test broker delivers at once and returns None instead of a future.
    await asyncio.gather(*(future for future in pending if future is not None))


def _count(metrics: PredictorMetrics, model: LoadedModel, made: int, rejected: int) -> None:
    if made:
        metrics.predictions.labels(model=model.name, version=str(model.version)).inc(made)
    if rejected:
        metrics.rejected.inc(rejected)
