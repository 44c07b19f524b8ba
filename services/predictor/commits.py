"""Commit a batch's offsets once its outputs are acknowledged, while later batches are scored.

The scoring stage hands each batch over with the futures of its sends and moves on to the
next batch at once; this pipeline waits for the acks in batch order and only then commits.
Kafka stays at-least-once: an offset is committed only after every output of the records
before it was acknowledged. If a batch's sends fail, its partitions are rewound to the batch's
first records and the commits of the batches after it are dropped: they are consumed again
and their results sent again with the same event ids. Commits are spaced
(`SpacedCommitter`): the offsets acknowledged within an interval go in one commit.

A rebalance takes partitions away: `revoke` (called once the in-flight batches are drained)
commits the spaced offsets at once, drops the batches still pending, and sends no commit
until `assign`. A commit sent meanwhile would be queued behind the consumer's JoinGroup and
reach the broker under a generation that is gone: aiokafka then forgets its member id and
rejoins as a new member, and the group waits out the old member's session timeout. Dropped
batches are consumed again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import operator
from asyncio import CancelledError
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from services.predictor.commit_spacing import SpacedCommitter
from services.predictor.stage import OrderedStage

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

log = logging.getLogger(__name__)


@dataclass
class PendingBatch:
    """A scored batch: where its records start and end per partition, its sends' futures, and
    the assignment it was consumed under (`CommitPipeline.epoch`)."""

    consumer: AIOKafkaConsumer
    first: dict[TopicPartition, int]
    next: dict[TopicPartition, int]
    sends: list[asyncio.Future[Any]]
    epoch: int = 0

    @classmethod
    def of(
        cls,
        consumer: AIOKafkaConsumer,
        records: Sequence[ConsumerRecord[Any, Any]],
        sends: list[asyncio.Future[Any]],
        epoch: int = 0,
    ) -> PendingBatch:
        spans = partition_spans(records)
        first = {partition: span[0] for partition, span in spans.items()}
        ends = {partition: span[1] + 1 for partition, span in spans.items()}
        return cls(consumer, first, ends, sends, epoch)


def partition_spans(
    records: Sequence[ConsumerRecord[Any, Any]],
) -> dict[TopicPartition, tuple[int, int]]:
    """The first and last offset of each partition in a batch (a partition's records are in
    order). Built at C speed, since it runs over every record: a dict keeps the last value
    given for a key, so it holds the last offsets read forwards and the first read backwards."""
    topics = set(map(_topic_of, records))
    # One topic (a subscriber's usual batch): partitions alone are the keys, no tuple per record.
    keys = list(map(_partition_of if len(topics) == 1 else _topic_partition_of, records))
    offsets = list(map(_offset_of, records))
    last = dict(zip(keys, offsets, strict=True))
    first = dict(zip(reversed(keys), reversed(offsets), strict=True))
    if len(topics) == 1:
        (topic,) = topics
        return {TopicPartition(topic, key): (first[key], end) for key, end in last.items()}
    return {TopicPartition(*key): (first[key], end) for key, end in last.items()}


_topic_of = operator.attrgetter("topic")
_partition_of = operator.attrgetter("partition")
_topic_partition_of = operator.attrgetter("topic", "partition")
_offset_of = operator.attrgetter("offset")


class CommitPipeline:
    """Commits batches in order once their sends are acknowledged; at most `depth` waiting."""

    def __init__(
        self,
        depth: int,
        on_rewound: Callable[[int], None] = lambda _: None,
        commit_interval_seconds: float = 0.0,
    ) -> None:
        """`on_rewound(n)`: n records were handed back, to be delivered again (a metric);
        `commit_interval_seconds`: the least time between two commits (0: each batch's)."""
        self._stage = OrderedStage("predictor-commits", self._settle, depth)
        self._committer = SpacedCommitter(commit_interval_seconds)
        self._on_rewound = on_rewound
        # Partitions rewound after a failed batch -> the offset they were sought back to.
        self._rewound: dict[TopicPartition, int] = {}
        # Bumped at each revocation and assignment: a batch commits only under its own.
        self._epoch = 0
        self._assigned = True  # False from a revocation until the next assignment
        self.failed_batches = 0
        self.dropped_batches = 0

    @property
    def epoch(self) -> int:
        """The current assignment; a batch consumed now carries it (`PendingBatch.epoch`)."""
        return self._epoch

    def revoke(self) -> None:
        """The partitions are being revoked: commit nothing until `assign`, and never the
        batches consumed before (their records are consumed again from the last commit)."""
        self._epoch += 1
        self._assigned = False
        self._rewound.clear()  # positions restart from the committed offsets
        self._committer.discard()  # whatever was drained is committed already

    def assign(self) -> None:
        """Partitions are assigned again: batches consumed from now on commit as usual."""
        self._epoch += 1
        self._assigned = True

    async def submit(self, batch: PendingBatch) -> None:
        """Queue `batch`; waits while `depth` batches are unacknowledged (back-pressure)."""
        await self._stage.submit(batch)

    async def drain(self, timeout_seconds: float) -> None:
        """Wait (a bounded time) until every queued batch is committed or rewound: at shutdown,
        so a clean stop does not leave acknowledged results to be sent again."""
        await self._stage.drain(timeout_seconds)
        await self._committer.flush_now()

    async def close(self) -> None:
        await self._stage.close()
        await self._committer.flush_now()  # no commit left waiting for its interval

    async def _settle(self, batch: PendingBatch) -> None:
        error = await _first_failure(batch.sends)
        if not self._assigned or batch.epoch != self._epoch:
            self._drop(batch)
        elif error is not None:
            self._rewind(batch, error)
        else:
            await self._commit(batch)

    def _drop(self, batch: PendingBatch) -> None:
        """A batch of a revoked assignment: not committed, so its records are consumed again."""
        self.dropped_batches += 1
        self._on_rewound(_record_count(batch))
        log.info("predictor: partitions revoked; a batch's records will be consumed again")

    def _rewind(self, batch: PendingBatch, error: BaseException) -> None:
        self.failed_batches += 1
        self._on_rewound(_record_count(batch))
        log.warning("predictor: a batch's sends failed (%s); consuming it again", error)
        for partition, offset in batch.first.items():
            target = min(offset, self._rewound.get(partition, offset))
            self._rewound[partition] = target
            with contextlib.suppress(Exception):  # revoked meanwhile: its new owner reads it
                batch.consumer.seek(partition, target)

    async def _commit(self, batch: PendingBatch) -> None:
        """Commit the batch's partitions, except those it read before a rewind took effect."""
        offsets = {}
        for partition, next_offset in batch.next.items():
            rewound_to = self._rewound.get(partition)
            if rewound_to is not None and batch.first[partition] > rewound_to:
                continue  # read ahead of the rewind: these records come again
            self._rewound.pop(partition, None)  # the rewound records are back: commit as usual
            offsets[partition] = next_offset
        if offsets:
            await self._committer.commit(batch.consumer, offsets)


def _record_count(batch: PendingBatch) -> int:
    """How many offsets the batch spans, per partition summed."""
    return sum(batch.next[p] - batch.first[p] for p in batch.first)


async def _first_failure(sends: Sequence[asyncio.Future[Any]]) -> BaseException | None:
    """Wait for every send; the first error, if any. Cheaper than gather for thousands of sends:
    once the last of a partition's sends settles, the rest are already done."""
    error: BaseException | None = None
    for send in sends:
        if not send.done():
            await asyncio.wait((send,))
        failure = CancelledError() if send.cancelled() else send.exception()
        error = error or failure
    return error
