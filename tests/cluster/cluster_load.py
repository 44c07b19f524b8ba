"""The cluster faults' load and measures: a steady stream from one idempotent producer, when
predictions were written per partition, and how long each outage held them up."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from contracts import HOUSE_PRICES
from mlbus.bus import encode
from mlbus.datagen import RecordGenerator

SLICES_PER_SECOND = 100


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

    def longest_gap(self, outage: Outage) -> tuple[float, float]:
        """Longest pause without a prediction that began during the outage (or just before:
        the last prediction before a kill): over all partitions together, and on the worst
        single partition."""
        window = (outage.began - 0.5, outage.ended)
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
    gaps = [b - a for a, b in itertools.pairwise(times) if begin <= a < end]
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


@asynccontextmanager
async def idempotent_stream(
    bootstrap_servers: str, topic: str, id_prefix: str, per_second: int
) -> AsyncIterator[Callable[[], int]]:
    """Publish unlabelled records at up to `per_second` in the background, through one producer
    with acks=all and idempotence (as a user's would be on a replicated cluster); yields a
    counter of the records acknowledged.

    The producer rides leader changes itself; a send that still fails (its batch timed out
    while the cluster had too few in-sync replicas) is sent again, with the same record id,
    so nothing is skipped and ingest sees the re-send as a duplicate. On exit, every record
    handed over is acknowledged before the counter is final.
    """
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers, acks="all", enable_idempotence=True, linger_ms=5
    )
    await producer.start()
    stream = _Stream(producer, topic, RecordGenerator(HOUSE_PRICES, seed=5, id_prefix=id_prefix))
    task = asyncio.create_task(stream.run(per_second))
    try:
        yield lambda: stream.acknowledged
    finally:
        stream.stopping.set()
        await task
        await stream.drain()
        await producer.stop()


@dataclass
class _Stream:
    producer: AIOKafkaProducer
    topic: str
    generator: RecordGenerator
    acknowledged: int = 0
    pending: list[tuple[dict[str, Any], asyncio.Future[Any]]] = field(default_factory=list)
    again: list[dict[str, Any]] = field(default_factory=list)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, per_second: int) -> None:
        """Paced in slices of 10 ms; behind the pace (a stalled cluster), as fast as it can."""
        per_slice = max(1, per_second // SLICES_PER_SECOND)
        started, handed = time.perf_counter(), 0
        while not self.stopping.is_set():
            if (wait := started + handed / per_second - time.perf_counter()) > 0:
                await asyncio.sleep(wait)
            batch, self.again = self.again, []
            batch += self.generator.records(per_slice, labelled=False)
            await self._send(batch)
            handed += per_slice
            self._reap()

    async def drain(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while self.pending or self.again:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.pending) + len(self.again)} records unacknowledged")
            batch, self.again = self.again, []
            await self._send(batch)
            await asyncio.wait([future for _, future in self.pending])
            self._reap()

    async def _send(self, records: list[dict[str, Any]]) -> None:
        for record in records:
            key = str(record[HOUSE_PRICES.record_id_field]).encode()
            future = await self.producer.send(self.topic, encode(record), key=key)
            self.pending.append((record, future))

    def _reap(self) -> None:
        """Count the acknowledged sends; queue the failed ones to be sent again."""
        still = []
        for record, future in self.pending:
            if not future.done():
                still.append((record, future))
            elif future.exception() is not None:
                self.again.append(record)
            else:
                self.acknowledged += 1
        self.pending = still
