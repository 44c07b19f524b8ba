"""Offsets committed at most once per interval, the ones given meanwhile merged into the next.

Committing each batch's offsets as it is acknowledged costs the broker a write per batch: at
1,000 requests/s in batches of a few records, more commit requests than produce requests.
Spacing them keeps at-least-once (only acknowledged offsets are ever committed); a crash
redelivers at most an interval's more requests, scored again with the same event ids.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math

from aiokafka import AIOKafkaConsumer, TopicPartition

log = logging.getLogger(__name__)

Offsets = dict[TopicPartition, int]


class SpacedCommitter:
    """Commits the offsets it is given at once if the last commit is `interval_seconds` old,
    otherwise when it is, with every offset given until then (a partition's latest wins).
    An interval of 0 commits each set at once."""

    def __init__(self, interval_seconds: float) -> None:
        self._interval = interval_seconds
        self._due: dict[AIOKafkaConsumer, Offsets] = {}
        self._last = -math.inf  # loop time of the last commit
        self._later: asyncio.Task[None] | None = None  # sleeping until the next commit is due

    async def commit(self, consumer: AIOKafkaConsumer, offsets: Offsets) -> None:
        """Commit `offsets` now, or merge them into the commit already due."""
        self._due.setdefault(consumer, {}).update(offsets)
        if self._later is not None:
            return  # a commit is due: it takes these too
        wait = self._last + self._interval - asyncio.get_running_loop().time()
        if wait <= 0:
            await self._flush()
        else:
            self._later = asyncio.create_task(self._flush_after(wait), name="predictor-commit")

    async def flush_now(self) -> None:
        """Commit every offset given so far without waiting for the interval (at shutdown)."""
        if self._later is not None:
            self._later.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._later
            self._later = None
        await self._flush()

    def discard(self) -> None:
        """Forget the offsets not yet committed (a rebalance took their partitions: their
        records are consumed again by the partitions' next owner)."""
        if self._later is not None:
            self._later.cancel()
            self._later = None
        self._due.clear()

    async def _flush_after(self, delay: float) -> None:
        await asyncio.sleep(delay)
        # Cleared before committing: offsets given during this commit schedule the next one.
        self._later = None
        await self._flush()

    async def _flush(self) -> None:
        due, self._due = self._due, {}
        self._last = asyncio.get_running_loop().time()
        for consumer, offsets in due.items():
            try:
                await consumer.commit(offsets)
            except Exception as exc:  # e.g. a rebalance took a partition: redelivered, same ids
                log.warning("predictor: could not commit %s: %s", offsets, exc)
