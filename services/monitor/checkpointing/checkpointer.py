"""Offsets-with-state: the monitor's checkpoints, and the offset commits that follow them.

Every few seconds (and at a graceful stop) the state and the next offset of every partition
it covers are written to the state topic; only once the broker has acknowledged the write are
those offsets committed. A committed offset is thus never past the latest checkpoint's, and a
restarted monitor restores that checkpoint and skips the records below its offsets
(positions.py): nothing counted twice, nothing lost, no Kafka transactions.

The checkpoint is keyed by the consumer group: one monitor process per group (its drift
windows need every prediction of a model anyway).
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Protocol

from aiokafka import TopicPartition
from pydantic import ValidationError

from services.common.rebalance import RebalanceGate
from services.monitor.checkpointing.capture import capture, restore, wall_offset
from services.monitor.checkpointing.format import Checkpoint, decode, encode
from services.monitor.checkpointing.positions import Partition, Positions, RecordT

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence

    from services.monitor.metrics import MonitorMetrics
    from services.monitor.processor import PredictionProcessor

log = logging.getLogger(__name__)


class CheckpointStore(Protocol):
    async def latest(self) -> bytes | None:
        """The group's latest checkpoint, None if it has none."""
        ...

    async def write(self, value: bytes) -> None:
        """Returns once the broker has acknowledged `value`."""
        ...


class Checkpointer:
    """Takes the monitor's checkpoints and commits the offsets they cover.

    Inactive until `restore` ran (at start, before consuming): faststream's in-memory test
    broker never runs it, so its batches pass as they are and nothing is written.
    """

    def __init__(
        self,
        processor: PredictionProcessor,
        metrics: MonitorMetrics,
        store: CheckpointStore,
        *,
        group_id: str,
        ids: int,
    ) -> None:
        self._processor = processor
        self._metrics = metrics
        self._store = store
        self._group_id = group_id
        self._ids = ids
        self.positions = Positions()
        self.active = False
        self._consumer: Any = None  # the aiokafka consumer of the latest batch
        self._batch_lock = asyncio.Lock()  # a checkpoint never sees half a batch
        self._write_lock = asyncio.Lock()  # checkpoints reach the topic in order
        self._to_wall = wall_offset(processor.windows)
        self._written: bytes | None = None
        self._committed: dict[TopicPartition, int] = {}
        # A revocation waits for the batch in flight, checkpoints, and holds commits off
        # until partitions are assigned again (a commit then would meet a gone generation).
        self.gate = RebalanceGate("monitor", before_revoke=self.checkpoint)

    @asynccontextmanager
    async def batch(
        self, consumer: Any, records: Sequence[RecordT]
    ) -> AsyncIterator[Sequence[RecordT]]:
        """Holds checkpoints off while a batch is applied; yields its records not counted yet."""
        async with self._batch_lock:
            if not self.active:
                yield records
            else:
                self._consumer = consumer
                yield self.positions.admit(records)

    async def restore(self) -> None:
        """Puts the group's latest checkpoint into the (fresh) processor and metrics."""
        value = await self._store.latest()
        checkpoint = _decoded(value) if value is not None else None
        if checkpoint is not None:
            restore(checkpoint.state, self._processor, self._metrics)
            self.positions = Positions(checkpoint.next_offsets())
            self._written = value
            log.info("monitor: restored the checkpoint of %s", _coverage(checkpoint))
        self.active = True

    async def checkpoint(self) -> None:
        """Writes the state with the offsets it covers, then commits those offsets."""
        if not self.active:
            return
        async with self._write_lock:
            async with self._batch_lock:
                offsets = self.positions.snapshot()
                state = capture(
                    self._processor, self._metrics, ids=self._ids, to_wall=self._to_wall
                )
                consumer = self._consumer
            value = encode(Checkpoint.of(self._group_id, offsets, state))
            self._metrics.checkpoint_bytes.set(len(value))
            if value == self._written:
                self._metrics.checkpoints.labels(outcome="unchanged").inc()
            else:
                await self._store.write(value)
                self._written = value
                self._metrics.checkpoints.labels(outcome="written").inc()
            if consumer is not None:
                await self._commit(consumer, offsets)

    async def run(self, interval: float) -> None:
        """Checkpoints every `interval` seconds until cancelled."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.checkpoint()
            except Exception as exc:  # the broker may be away: the next round tries again
                self._metrics.checkpoints.labels(outcome="failed").inc()
                log.warning("monitor: checkpoint failed: %s", exc)

    async def _commit(self, consumer: Any, offsets: dict[Partition, int]) -> None:
        if not self.gate.may_commit():
            return  # a rebalance is under way: the checkpoint's offsets are committed later
        assigned = consumer.assignment()
        due = {}
        for (topic, partition), offset in offsets.items():
            key = TopicPartition(topic, partition)
            if key in assigned and self._committed.get(key) != offset:
                due[key] = offset
        if not due:
            return
        try:
            await consumer.commit(due)
        except Exception as exc:  # e.g. a rebalance: the skip rule copes with any redelivery
            log.warning("monitor: could not commit %s: %s", due, exc)
            return
        self._committed.update(due)


def _decoded(value: bytes) -> Checkpoint | None:
    try:
        return decode(value)
    except ValidationError as exc:
        # Counting afresh from the committed offsets undercounts but never counts twice.
        log.error("monitor: unreadable checkpoint, starting from zero: %s", exc)
        return None


def _coverage(checkpoint: Checkpoint) -> str:
    offsets = checkpoint.next_offsets()
    return f"{len(offsets)} partitions, {sum(offsets.values())} records"
