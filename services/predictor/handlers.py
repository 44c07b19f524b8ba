"""Kafka subscribers of the predictor: batches of requests in, predictions out; model events."""

from __future__ import annotations

import asyncio
import logging
import operator
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from faststream import AckPolicy
from faststream.kafka import KafkaRouter
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.publisher.usecase import DefaultPublisher
from faststream.message import StreamMessage
from prometheus_client import CollectorRegistry
from pydantic import BaseModel, ValidationError

from contracts import MODEL_EVENT, ModelPromoted, ModelRegistered, ModelRolledBack, RecordRejected
from services.common.metrics import observe_many
from services.common.poison import PoisonMetrics
from services.predictor.commits import CommitPipeline, PendingBatch
from services.predictor.config import Settings
from services.predictor.metrics import PredictorMetrics
from services.predictor.model import LoadedModel
from services.predictor.registry_client import CHAMPION
from services.predictor.request_batch import RequestBatch, encode_json, parse_requests
from services.predictor.scoring import Prediction, ScoredBatch, score_requests_beside_loop
from services.predictor.serving import AliasReloader, ModelHolder
from services.predictor.shadow import shadow_score_beside_loop
from services.predictor.stage import OrderedStage

log = logging.getLogger(__name__)

# (publisher, its topic, the event or its JSON, the record id for the key)
Output = tuple[DefaultPublisher, str, BaseModel | bytes, str | None]
ProducerLookup = Callable[[], AIOKafkaProducer | None]
ShadowScored = tuple[list[Prediction], int]  # the challenger's predictions, and its failures
_JSON_HEADERS = [("content-type", b"application/json")]


@dataclass(frozen=True)
class Serving:
    """The champion and the challenger, each in its holder with its reloader."""

    champion: AliasReloader
    challenger: AliasReloader


async def _raw_body(message: StreamMessage[Any]) -> Any:
    """Skip faststream's JSON decoding: a bad message must fail alone, in our own parsing."""
    return message.body


def build_router(
    settings: Settings,
    serving: Serving,
    metrics: PredictorMetrics,
    producer: ProducerLookup = lambda: None,
    poison: PoisonMetrics | None = None,
) -> tuple[KafkaRouter, Callable[[], Awaitable[None]]]:
    """The subscribers; `producer` gives the broker's aiokafka producer once connected (None
    on the in-memory test broker), used directly because faststream's per-message publish
    costs more than scoring the message. Returns the router and the hook that stops its
    pipeline (scoring, then commits once acknowledged) at shutdown."""
    topics = settings.kafka.topics
    # Records handed back after a failed send are counted as redelivered, as in every consumer.
    poison = poison or PoisonMetrics(CollectorRegistry())
    redelivered = poison.redelivered.labels(consumer="predictor.requests")
    commits = CommitPipeline(settings.pipeline_depth, on_rewound=redelivered.inc)
    # One thread for inference: a batch is scored there while the event loop sends the results
    # of the batch before it; more threads would only compete for the same cores.
    inference = ThreadPoolExecutor(max_workers=1, thread_name_prefix="predictor-inference")
    router = KafkaRouter()
    results = router.publisher(topics.predict_results)
    shadow = router.publisher(topics.predict_shadow)
    rejected = router.publisher(topics.rejected)
    holder, challenger = serving.champion.holder, serving.challenger.holder

    requests = router.subscriber(
        topics.predict_requests,
        group_id=f"{settings.kafka.topic_prefix}mlbus-predictor",
        auto_offset_reset="earliest",
        batch=True,
        max_records=settings.batch_max_records,
        batch_timeout_ms=settings.batch_timeout_ms,
        fetch_max_wait_ms=settings.kafka.fetch_max_wait_ms,
        # Offsets are committed by `commits` once the batch's outputs are acknowledged; on an
        # error the handler rewinds the batch (nack) to score it again.
        ack_policy=AckPolicy.MANUAL,
        decoder=_raw_body,
    )

    async def emit(job: ScoringJob) -> list[asyncio.Future[Any]]:
        """Send the batch's results and rejections once scored, shadow-score: the sends' futures."""
        scored = await job.scored
        rejections = job.rejections + scored.rejections
        raw = producer()
        sends = await _send_predictions(results, scored.predictions, raw)
        sends += await _send([(rejected, topics.rejected, r, r.record_id) for r in rejections], raw)
        shadow_made = await _shadow_results(job.shadowed, metrics)
        _count_shadow(metrics, shadow_made, await _send_predictions(shadow, shadow_made, raw))
        made, done = len(scored.predictions), time.perf_counter()
        _observe(metrics, job.model, job.records, made, len(rejections), job.started, done)
        metrics.inference_seconds.observe(scored.inference_seconds)
        return sends

    async def finish(item: tuple[AIOKafkaConsumer, ScoringJob]) -> None:
        consumer, job = item
        try:
            sends = await emit(job)
        except Exception as exc:  # e.g. the producer is gone: rewound like a failed send
            log.warning("predictor: a batch could not be scored and sent: %s", exc)
            sends = [_failed(exc)]
        pending = PendingBatch.of(consumer, job.records, sends)
        await commits.submit(pending)
        _record_lag(metrics, consumer, pending.next)

    # Batch N's results are sent while batch N+1 is scored (its inference in `inference`) and
    # batch N+2 parsed; N's offsets are committed once its sends are acknowledged.
    scoring = OrderedStage("predictor-scoring", finish, settings.pipeline_depth)

    @requests
    async def score_batch(message: KafkaMessage) -> None:
        started = time.perf_counter()
        consumer = getattr(requests, "consumer", None)
        model = holder.current or await _wait_for_model(holder, settings.model_wait_seconds)
        if model is None:
            await _rewind(message, consumer)  # consumed again once a model serves
            return
        records = _records(message.raw_message)
        parsed, rejections = parse_requests(records, settings.max_request_bytes)
        # Scoring starts now, beside the batches ahead of it; they are sent in order.
        scored = asyncio.ensure_future(score_requests_beside_loop(model, parsed, inference))
        shadowed = _start_shadow(challenger.current, parsed, settings.shadow_fraction, inference)
        job = ScoringJob(records, model, parsed, rejections, scored, shadowed, started)
        if isinstance(consumer, AIOKafkaConsumer):
            await scoring.submit((consumer, job))
            return
        # The in-memory test broker has no offsets and delivers at once: all in line.
        await asyncio.gather(*await emit(job))
        await message.ack()

    async def stop_pipeline() -> None:
        """At shutdown: let queued batches finish and commit (bounded), then stop the stages."""
        await scoring.drain(timeout_seconds=5.0)
        await commits.drain(timeout_seconds=5.0)
        await scoring.close()
        await commits.close()
        inference.shutdown(wait=False, cancel_futures=True)

    @router.subscriber(topics.models, auto_offset_reset="latest", decoder=_raw_body)
    async def on_model_event(body: bytes) -> None:
        """Every instance sees every model event (no group): reload the aliases it concerns."""
        try:
            event = MODEL_EVENT.validate_json(body)
        except ValidationError as exc:
            log.warning("predictor: ignoring an unreadable model event: %s", exc)
            return
        if event.model_name != settings.model_name:
            return
        if isinstance(event, ModelPromoted | ModelRolledBack):
            log.info("predictor: %s for %s v%d", event.kind, event.model_name, event.version)
            if event.alias == CHAMPION:
                await serving.champion.reload()
            # A promotion moves the challenger too (to champion, or a new one).
            await serving.challenger.reload()
        elif isinstance(event, ModelRegistered):
            await serving.challenger.reload()

    return router, stop_pipeline


@dataclass(frozen=True)
class ScoringJob:
    """A consumed batch, parsed, with the model that will score it."""

    records: Sequence[ConsumerRecord[Any, Any]]
    model: LoadedModel
    parsed: RequestBatch
    rejections: list[RecordRejected]
    scored: asyncio.Future[ScoredBatch]  # scoring, started once parsed
    shadowed: asyncio.Future[ShadowScored] | None  # the challenger's, if there is one
    started: float


def _failed(error: Exception) -> asyncio.Future[Any]:
    failed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    failed.set_exception(error)
    return failed


def _start_shadow(
    model: LoadedModel | None, parsed: RequestBatch, fraction: float, executor: Executor
) -> asyncio.Future[ShadowScored] | None:
    if model is None or fraction <= 0:
        return None
    return asyncio.ensure_future(shadow_score_beside_loop(model, parsed, fraction, executor))


async def _shadow_results(
    shadowed: asyncio.Future[ShadowScored] | None, metrics: PredictorMetrics
) -> list[Prediction]:
    if shadowed is None:
        return []
    made, failed = await shadowed
    if failed:
        metrics.shadow_failures.inc(failed)
    return made


async def _wait_for_model(holder: ModelHolder, timeout_seconds: float) -> LoadedModel | None:
    """The first model, or None if none comes in time (the batch is then handed back)."""
    try:
        return await asyncio.wait_for(holder.wait_ready(), timeout_seconds)
    except TimeoutError:
        log.info("predictor: no model loaded yet; requests wait for a promoted model")
        return None


async def _rewind(message: KafkaMessage, consumer: Any) -> None:
    """Hand the batch back to Kafka: its partitions are sought back to its first records."""
    if isinstance(consumer, AIOKafkaConsumer):  # the in-memory test broker has no offsets
        await message.nack()


def _records(raw_message: Any) -> Sequence[ConsumerRecord[Any, Any]]:
    """The consumed records of a batch message (a tuple from Kafka, a list from the test broker)."""
    if isinstance(raw_message, list | tuple):
        return raw_message
    return (raw_message,)


async def _send_predictions(
    publisher: DefaultPublisher, predictions: list[Prediction], producer: AIOKafkaProducer | None
) -> list[asyncio.Future[Any]]:
    """`_send` for predictions, without a tuple per output: this runs for every record."""
    topic = publisher.topic
    if producer is None:
        outputs: list[Output] = [
            (publisher, topic, encode_json(p), p.record_id) for p in predictions
        ]
        return await _send(outputs, None)
    send = producer.send
    return [
        await send(topic, encode_json(p), key=p.record_id.encode(), headers=_JSON_HEADERS)
        for p in predictions
    ]


async def _send(
    outputs: list[Output], producer: AIOKafkaProducer | None
) -> list[asyncio.Future[Any]]:
    """Hand every output to the producer without waiting: the futures of their acks."""
    pending = []
    for publisher, topic, event, record_id in outputs:
        key = record_id.encode() if record_id is not None else None
        if producer is None:
            pending.append(await publisher.publish(event, key=key, no_confirm=True))
            continue
        value = event if isinstance(event, bytes) else event.model_dump_json().encode()
        pending.append(await producer.send(topic, value, key=key, headers=_JSON_HEADERS))
    # The in-memory test broker delivers at once and returns None instead of a future.
    return [future for future in pending if future is not None]


def _count_shadow(
    metrics: PredictorMetrics, made: list[Prediction], sends: list[asyncio.Future[Any]]
) -> None:
    """Count each shadow result once its send settles; shadow sends never hold up a batch."""
    if not made:
        return
    first = made[0]
    delivered = metrics.shadow_predictions.labels(
        model=first.model_name, version=str(first.model_version)
    )

    def settled(send: asyncio.Future[Any]) -> None:
        if send.cancelled() or send.exception() is not None:
            metrics.shadow_failures.inc()
        else:
            delivered.inc()

    if not sends:  # the in-memory test broker delivered them already
        delivered.inc(len(made))
    for send in sends:
        send.add_done_callback(settled)


def _observe(
    metrics: PredictorMetrics,
    model: LoadedModel,
    records: Sequence[ConsumerRecord[Any, Any]],
    made: int,
    rejected: int,
    started: float,
    done: float,
) -> None:
    metrics.batch_size.observe(len(records))
    metrics.batch_seconds.observe(done - started)
    if made:
        metrics.predictions.labels(model=model.name, version=str(model.version)).inc(made)
    if rejected:
        metrics.rejected.inc(rejected)
    # In numpy: this runs over every record. A missing timestamp (None) becomes NaN, then left out.
    stamps = np.array(list(map(_timestamp_of, records)), dtype=np.float64)
    stamps = stamps[stamps > 0]
    observe_many(metrics.latency_seconds, np.maximum(0.0, time.time() * 1000 - stamps) / 1000)


_timestamp_of = operator.attrgetter("timestamp")


def _record_lag(
    metrics: PredictorMetrics, consumer: AIOKafkaConsumer, next_offsets: dict[TopicPartition, int]
) -> None:
    """Lag of each partition in the batch: its high watermark minus the next offset to read."""
    for partition, offset in next_offsets.items():
        highwater = consumer.highwater(partition)
        if highwater is not None:
            metrics.consumer_lag.labels(partition=str(partition.partition)).set(
                max(0, highwater - offset)
            )
