"""The predictor's stages, from a consumed batch of requests to its committed offsets.

`BatchScorer` parses a batch and starts its scoring in the inference thread, then sends its
outputs once scored. `KafkaPipeline` overlaps batches: batch N's results are sent while batch
N+1 is scored and N+2 parsed, and N's offsets are committed once its sends are acknowledged
(`CommitPipeline`). `InlinePipeline` serves faststream's in-memory broker, which has no offsets
and delivers at once: each batch is scored, sent and acknowledged in line. app.py picks one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import operator
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast

import numpy as np
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from services.common.metrics import observe_many
from services.predictor.commits import CommitPipeline, PendingBatch
from services.predictor.dataset_parts import (
    ScoringPart,
    ShadowScored,
    by_dataset,
    champions,
    start_parts,
)
from services.predictor.request_batch import encode_json, parse_requests
from services.predictor.stage import OrderedStage

if TYPE_CHECKING:
    from faststream.kafka.annotations import KafkaMessage

    from contracts import RecordRejected
    from services.common.sending import Acknowledgement, Sender
    from services.predictor.config import Settings
    from services.predictor.metrics import PredictorMetrics
    from services.predictor.model import LoadedModel
    from services.predictor.scoring import Result, ScoredBatch
    from services.predictor.servings import Servings

log = logging.getLogger(__name__)

Records = Sequence[ConsumerRecord[Any, Any]]


class BatchPipeline(Protocol):
    """Takes each consumed batch of requests from the subscriber; told when the group takes
    its partitions away and gives it some (a rebalance); stopped at shutdown."""

    async def take(self, message: KafkaMessage) -> None: ...

    async def revoked(self, partitions: set[TopicPartition]) -> None: ...

    def assigned(self, partitions: set[TopicPartition]) -> None: ...

    async def stop(self) -> None: ...


# A revocation waits this long at most for the batches in flight: the rest of the group waits
# for this member to rejoin meanwhile (a batch takes well under a second to send and commit).
REVOKE_DRAIN_SECONDS = 3.0


@dataclass(frozen=True)
class ScoringJob:
    """A consumed batch, parsed and split by data set, each part scoring with its champion."""

    records: Records
    parts: list[ScoringPart]
    rejections: list[RecordRejected]  # unreadable requests, and those of unknown data sets
    started: float


@dataclass(frozen=True)
class Consumed:
    """A batch on its way to the commits: its consumer and assignment (`epoch`), its job."""

    consumer: AIOKafkaConsumer
    epoch: int
    job: ScoringJob


class BatchScorer:
    """Parses batches, scores each data set's part with its champion (and a sample with its
    challenger) in an inference thread, and sends their predictions and rejections."""

    def __init__(
        self, settings: Settings, servings: Servings, metrics: PredictorMetrics, sender: Sender
    ) -> None:
        self._settings = settings
        self._topics = settings.kafka.topics
        self._servings = servings
        self._metrics = metrics
        self._sender = sender
        # One thread for inference: a batch is scored there while the event loop sends the
        # results of the batch before it; more threads would only compete for the same cores.
        self._inference = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="predictor-inference"
        )

    async def start(self, message: KafkaMessage) -> ScoringJob | None:
        """The batch, parsed, each data set's part scoring; None if a champion it needs does
        not serve in time (the batch is then handed back, to be consumed again once it does)."""
        started = time.perf_counter()
        records = _records(message.raw_message)
        parsed, rejections = parse_requests(records, self._settings.max_request_bytes)
        wait = self._settings.unknown_dataset_wait_seconds
        served, unknown = await by_dataset(parsed, self._servings, wait)
        models = await champions(served, self._settings.model_wait_seconds)
        if models is None:
            return None
        fraction = self._settings.shadow_fraction
        parts = start_parts(served, models, fraction, self._inference)
        return ScoringJob(records, parts, rejections + unknown, started)

    async def emit(self, job: ScoringJob) -> list[Acknowledgement]:
        """Send the batch's results and rejections once scored, and its shadow results: the
        acknowledgements the batch's commit waits for (shadow sends never hold it up)."""
        scored = [await part.scored for part in job.parts]
        rejections = job.rejections + [r for batch in scored for r in batch.rejections]
        sends: list[Acknowledgement] = []
        for part, batch in zip(job.parts, scored, strict=True):
            sends += await self._send_predictions(self._topics.predict_results, batch.predictions)
            _observe_part(self._metrics, part.model, batch)
        sends += [await self._send_rejection(rejection) for rejection in rejections]
        for part in job.parts:
            name = part.model.name
            shadow_made = await _shadow_results(part.shadowed, self._metrics, name)
            shadow_sends = await self._send_predictions(self._topics.predict_shadow, shadow_made)
            _count_shadow(self._metrics, name, shadow_made, shadow_sends)
        _observe(self._metrics, job, time.perf_counter())
        return sends

    def close(self) -> None:
        self._inference.shutdown(wait=False, cancel_futures=True)

    async def _send_predictions(
        self, topic: str, predictions: list[Result]
    ) -> list[Acknowledgement]:
        values = list(map(encode_json, predictions))
        keys = [prediction.record_id.encode() for prediction in predictions]
        return await self._sender.send_all(topic, values, keys)

    async def _send_rejection(self, rejection: RecordRejected) -> Acknowledgement:
        key = rejection.record_id.encode() if rejection.record_id is not None else None
        value = rejection.model_dump_json().encode()
        return await self._sender.send(self._topics.rejected, value, key)


class KafkaPipeline:
    """Batches overlap on Kafka: one is sent while the next is scored (in the inference thread)
    and the one after parsed; each batch's offsets are committed once its sends are
    acknowledged, and a batch whose sends fail is consumed again (at-least-once)."""

    def __init__(
        self,
        scorer: BatchScorer,
        metrics: PredictorMetrics,
        depth: int,
        on_rewound: Callable[[int], None],
        commit_interval_seconds: float = 0.0,
    ) -> None:
        """`depth`: batches that may await their acks; `on_rewound(n)`: n records were handed
        back to be delivered again; `commit_interval_seconds`: the least time between commits."""
        self._scorer = scorer
        self._metrics = metrics
        self._commits = CommitPipeline(depth, on_rewound, commit_interval_seconds)
        self._scoring = OrderedStage("predictor-scoring", self._finish, depth)
        self._stopping = False  # set at shutdown: no batch is taken from then on

    async def take(self, message: KafkaMessage) -> None:
        if self._stopping:
            _stop_fetching(message)  # left uncommitted: the partitions' next owner reads it
            return
        epoch = self._commits.epoch  # the assignment the records were consumed under
        job = await self._scorer.start(message)
        if job is None:
            await message.nack()  # its partitions are sought back to its first records
            return
        # The subscriber's aiokafka consumer: its offsets are committed once acknowledged.
        consumer = cast("AIOKafkaConsumer", message.consumer)
        await self._scoring.submit(Consumed(consumer, epoch, job))

    async def revoked(self, partitions: set[TopicPartition]) -> None:
        """Before the consumer rejoins its group (aiokafka awaits this): finish the batches in
        flight and commit them under the generation that still owns their partitions, then
        drop whatever did not make it in time (consumed again by the partitions' owners)."""
        started = time.perf_counter()
        await self._scoring.drain(timeout_seconds=REVOKE_DRAIN_SECONDS)
        left = max(0.0, REVOKE_DRAIN_SECONDS - (time.perf_counter() - started))
        await self._commits.drain(timeout_seconds=left)
        self._commits.revoke()
        log.info(
            "predictor: %d partition(s) revoked; in-flight batches drained in %.2f s",
            len(partitions),
            time.perf_counter() - started,
        )

    def assigned(self, partitions: set[TopicPartition]) -> None:
        """The group gave partitions again: batches consumed from now on commit as usual."""
        self._commits.assign()

    async def stop(self) -> None:
        """At shutdown: take no more batches, let queued ones finish and commit (bounded),
        then stop the stages. The consumer stays in the group meanwhile, to commit."""
        self._stopping = True
        await self._scoring.drain(timeout_seconds=5.0)
        await self._commits.drain(timeout_seconds=5.0)
        await self._scoring.close()
        await self._commits.close()
        self._scorer.close()

    async def _finish(self, item: Consumed) -> None:
        consumer, job = item.consumer, item.job
        try:
            sends = await self._scorer.emit(job)
        except Exception as exc:  # e.g. the producer is gone: rewound like a failed send
            log.warning("predictor: a batch could not be scored and sent: %s", exc)
            sends = [_failed(exc)]
        pending = PendingBatch.of(consumer, job.records, sends, item.epoch)
        await self._commits.submit(pending)
        _record_lag(self._metrics, consumer, pending.next)


class InlinePipeline:
    """For faststream's in-memory broker, which has no offsets and delivers each send to its
    subscribers at once: a batch is scored, sent and acknowledged before the next."""

    def __init__(self, scorer: BatchScorer) -> None:
        self._scorer = scorer

    async def take(self, message: KafkaMessage) -> None:
        job = await self._scorer.start(message)
        if job is None:
            return  # no offsets to hand the batch back to: it is not acknowledged either
        await asyncio.gather(*await self._scorer.emit(job))
        await message.ack()

    async def revoked(self, partitions: set[TopicPartition]) -> None:
        """Nothing is in flight between two batches here: nothing to finish."""

    def assigned(self, partitions: set[TopicPartition]) -> None:
        """Each batch is acknowledged in line: nothing to resume."""

    async def stop(self) -> None:
        self._scorer.close()


def _stop_fetching(message: KafkaMessage) -> None:
    """Pause the consumer's partitions: at shutdown nothing more is fetched to be dropped."""
    consumer = cast("AIOKafkaConsumer", message.consumer)
    with contextlib.suppress(Exception):  # e.g. mid-rebalance: the batch is dropped all the same
        consumer.pause(*consumer.assignment())


def _failed(error: Exception) -> Acknowledgement:
    failed: Acknowledgement = asyncio.get_running_loop().create_future()
    failed.set_exception(error)
    return failed


async def _shadow_results(
    shadowed: asyncio.Future[ShadowScored] | None, metrics: PredictorMetrics, model: str
) -> list[Result]:
    if shadowed is None:
        return []
    made, failed = await shadowed
    if failed:
        metrics.shadow_failures.labels(model=model).inc(failed)
    return made


def _records(raw_message: Any) -> Records:
    """The consumed records of a batch message (a tuple from Kafka, a list in memory)."""
    if isinstance(raw_message, list | tuple):
        return raw_message
    return (raw_message,)


def _count_shadow(
    metrics: PredictorMetrics, model: str, made: list[Result], sends: list[Acknowledgement]
) -> None:
    """Count each shadow result once its send settles; shadow sends never hold up a batch."""
    if not made:
        return
    delivered = metrics.shadow_predictions.labels(model=model, version=str(made[0].model_version))
    failed = metrics.shadow_failures.labels(model=model)

    def settled(send: Acknowledgement) -> None:
        if send.cancelled() or send.exception() is not None:
            failed.inc()
        else:
            delivered.inc()

    for send in sends:
        send.add_done_callback(settled)


def _observe_part(metrics: PredictorMetrics, model: LoadedModel, scored: ScoredBatch) -> None:
    """Count one data set's predictions and rejections under its model; time its onnxruntime
    call."""
    made = len(scored.predictions)
    if made:
        metrics.predictions.labels(model=model.name, version=str(model.version)).inc(made)
    if scored.rejections:
        metrics.rejected.labels(model=model.name).inc(len(scored.rejections))
    metrics.inference_seconds.labels(model=model.name).observe(scored.inference_seconds)


def _observe(metrics: PredictorMetrics, job: ScoringJob, done: float) -> None:
    """The batch's size, time and latencies; its requests that reached no model, under
    model="" (a fixed value: a data set name sent by a client would be unbounded)."""
    metrics.batch_size.observe(len(job.records))
    metrics.batch_seconds.observe(done - job.started)
    if job.rejections:
        metrics.rejected.labels(model="").inc(len(job.rejections))
    # In numpy: this runs over every record. A missing timestamp (None) becomes NaN, then left out.
    stamps = np.array(list(map(_timestamp_of, job.records)), dtype=np.float64)
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
