"""At shutdown the predictor takes no more batches: it finishes those it has, then stops."""

from __future__ import annotations

from typing import Any, cast

from aiokafka import TopicPartition

from services.predictor.metrics import PredictorMetrics
from services.predictor.pipeline import BatchScorer, KafkaPipeline

ASSIGNED = {TopicPartition("requests", 0), TopicPartition("requests", 1)}


class CountingScorer:
    """Stands in for the scorer: counts the batches it is asked to start."""

    def __init__(self) -> None:
        self.started = 0
        self.closed = False

    async def start(self, message: Any) -> None:
        self.started += 1

    def close(self) -> None:
        self.closed = True


class PausableConsumer:
    """The consumer calls a stopping pipeline makes: its assignment, and pause."""

    def __init__(self) -> None:
        self.paused: set[TopicPartition] = set()

    def assignment(self) -> set[TopicPartition]:
        return set(ASSIGNED)

    def pause(self, *partitions: TopicPartition) -> None:
        self.paused.update(partitions)


class Message:
    """A consumed batch as the pipeline sees it: its consumer, and nack (hand it back)."""

    def __init__(self, consumer: PausableConsumer) -> None:
        self.consumer = consumer
        self.nacked = 0

    async def nack(self) -> None:
        self.nacked += 1


async def test_a_batch_arriving_after_stop_is_neither_scored_nor_fetched_further(
    metrics: PredictorMetrics,
) -> None:
    scorer, consumer = CountingScorer(), PausableConsumer()
    pipeline = KafkaPipeline(cast(BatchScorer, scorer), metrics, depth=2, on_rewound=lambda _: None)
    await pipeline.stop()
    message = Message(consumer)
    await pipeline.take(cast(Any, message))
    assert message.nacked == 0  # not even handed back: nothing of this process reads it again
    assert scorer.started == 0  # not scored, not committed: its partitions' next owner reads it
    assert consumer.paused == ASSIGNED
    assert scorer.closed


async def test_before_stop_a_batch_goes_to_the_scorer(metrics: PredictorMetrics) -> None:
    scorer, consumer = CountingScorer(), PausableConsumer()
    pipeline = KafkaPipeline(cast(BatchScorer, scorer), metrics, depth=2, on_rewound=lambda _: None)
    message = Message(consumer)
    await pipeline.take(cast(Any, message))
    assert scorer.started == 1
    assert message.nacked == 1  # this scorer serves no model: the batch is handed back
    assert consumer.paused == set()
    await pipeline.stop()
