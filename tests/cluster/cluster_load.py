"""What the cluster faults measure: when predictions were written, per partition, and how long
each outage held them up."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer


@dataclass
class Outage:
    """One fault: from the moment it began to the moment the cluster was whole again."""

    name: str
    began: float  # wall clock, seconds
    ended: float = 0.0


@dataclass
class PredictionClock:
    """Timestamps (seconds) of the predictions of the records under a prefix, per partition."""

    record_prefix: bytes
    seen: defaultdict[int, list[float]] = field(default_factory=lambda: defaultdict(list))

    @property
    def count(self) -> int:
        return sum(len(times) for times in self.seen.values())

    def longest_gap(self, outage: Outage, *, settle: float = 5.0) -> tuple[float, float]:
        """Longest pause without a prediction that overlaps the outage (or the `settle` seconds
        after it): over all partitions together, and on the worst single partition."""
        window = (outage.began, outage.ended + settle)
        merged = sorted(t for times in self.seen.values() for t in times)
        worst = max((_gap_in(sorted(times), window) for times in self.seen.values()), default=0)
        return _gap_in(merged, window), worst

    def stall_report(self, outages: list[Outage]) -> str:
        lines = []
        for outage in outages:
            overall, worst = self.longest_gap(outage)
            lines.append(
                f"{outage.name}: {outage.ended - outage.began:.1f}s until fully replicated;"
                f" predictions stalled {overall:.2f}s overall, {worst:.2f}s on the worst partition"
            )
        return "\n".join(lines)


def _gap_in(times: list[float], window: tuple[float, float]) -> float:
    begin, end = window
    gaps = [b - a for a, b in itertools.pairwise(times) if b > begin and a < end]
    return max(gaps, default=0.0)


@asynccontextmanager
async def watch_predictions(
    bootstrap_servers: str, topic: str, record_prefix: str
) -> AsyncIterator[PredictionClock]:
    """Tail `topic` (no group, from its end) in the background, noting the broker timestamp
    of every prediction whose key (the record id) starts with `record_prefix`."""
    clock = PredictionClock(record_prefix.encode())
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap_servers, auto_offset_reset="latest", group_id=None
    )
    await consumer.start()

    async def tail() -> None:
        while True:
            for tp, messages in (await consumer.getmany(timeout_ms=500)).items():
                clock.seen[tp.partition].extend(
                    m.timestamp / 1000
                    for m in messages
                    if m.key is not None and m.key.startswith(clock.record_prefix)
                )

    task = asyncio.create_task(tail())
    try:
        yield clock
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await consumer.stop()


async def until_counted(clock: PredictionClock, at_least: int, timeout: float = 60.0) -> None:
    """Until the clock has seen `at_least` predictions (duplicates count) or the timeout."""
    deadline = time.monotonic() + timeout
    while clock.count < at_least and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
