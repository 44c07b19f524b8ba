"""Liveness that sees progress: each consumer's lag, and how long its offsets have stood still.

A consumer that loops on one batch keeps its process, its broker connection and /healthz alive,
and makes no progress. Every few seconds this looks at each consumer group of a service's broker:
per assigned partition, its high watermark (from the last fetch) and its committed offset (its
position for a consumer that has committed nothing, such as the trainer's buffer). A partition with
records waiting whose offset has not moved for `stall_seconds` is stalled: /readyz says so and
`mlbus_consumer_stalled` is 1 (deploy/prometheus/rules alerts on it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import CollectorRegistry, Gauge

log = logging.getLogger(__name__)

Clock = Callable[[], float]


@dataclass
class _Partition:
    offset: int | None = None  # committed (or the lower of the last two positions), as last seen
    best: int = -1  # the furthest it got
    moved_at: float = 0.0  # when it last got further (or was first seen)
    position: int | None = None  # the position at the last check
    lag: int = 0


@dataclass
class _Consumer:
    partitions: dict[TopicPartition, _Partition] = field(default_factory=dict)


class ConsumerProgress:
    """Watches the consumers of `subscribers` (faststream subscribers, with a `consumer` once
    started); `problems()` names the stalled ones, for /readyz."""

    def __init__(
        self,
        subscribers: Callable[[], Iterable[Any]],
        registry: CollectorRegistry,
        stall_seconds: float,
        *,
        clock: Clock = time.monotonic,
    ) -> None:
        self._subscribers = subscribers
        self._stall_seconds = stall_seconds
        self._clock = clock
        self._consumers: dict[str, _Consumer] = {}
        self._problems: dict[str, str] = {}  # consumer -> why it is stalled
        self._lag = Gauge(
            "mlbus_consumer_lag",
            "Records waiting for this consumer: high watermark minus committed offset, summed.",
            ["consumer"],
            registry=registry,
        )
        self._age = Gauge(
            "mlbus_consumer_commit_age_seconds",
            "Seconds since this consumer's committed offset (its position if it never commits)"
            " last moved on a partition with records waiting; 0 when none wait.",
            ["consumer"],
            registry=registry,
        )
        self._stalled = Gauge(
            "mlbus_consumer_stalled",
            "1 when this consumer has had records waiting and made no progress for the"
            " configured time (MLBUS_KAFKA_CONSUMER_STALL_SECONDS).",
            ["consumer"],
            registry=registry,
        )

    async def run(self, interval_seconds: float) -> None:
        """Check every `interval_seconds`, until cancelled (a service_app background job)."""
        while True:
            try:
                await self.check()
            except Exception as exc:  # a check must never stop the watching
                log.warning("consumer progress: check failed: %r", exc)
            await asyncio.sleep(interval_seconds)

    async def check(self) -> None:
        for subscriber in self._subscribers():
            consumer = getattr(subscriber, "consumer", None)
            group = getattr(subscriber, "group_id", None)
            if not isinstance(consumer, AIOKafkaConsumer) or group is None:
                continue  # not started, or no group: nothing committed to watch
            name = "+".join(sorted(getattr(subscriber, "topic_names", ()) or ())) or str(group)
            await self._check(name, consumer)

    async def _check(self, name: str, consumer: AIOKafkaConsumer) -> None:
        state = self._consumers.setdefault(name, _Consumer())
        now = self._clock()
        assigned = consumer.assignment()
        for gone in set(state.partitions) - assigned:
            del state.partitions[gone]
        for partition in assigned:
            seen = state.partitions.setdefault(partition, _Partition(moved_at=now))
            offset = await self._progress_offset(consumer, partition, seen)
            if offset is None:
                continue
            if offset > seen.best:  # only getting further is progress: a rewind is not
                seen.best, seen.moved_at = offset, now
            highwater = consumer.highwater(partition)
            if highwater is not None:
                seen.lag = max(0, highwater - offset)
        self._export(name, state, now)

    @staticmethod
    async def _progress_offset(
        consumer: AIOKafkaConsumer, partition: TopicPartition, seen: _Partition
    ) -> int | None:
        """The partition's committed offset; for a consumer that has committed nothing, the
        lower of its last two positions (a batch rewound again and again moves the position
        back and forth, never the lower of two)."""
        # asyncio.timeout, not wait_for: Python 3.11's wait_for drops a cancel that comes as
        # the broker answers, and shutdown would wait for this job with the consumer in its group.
        with contextlib.suppress(Exception):  # a rebalance or a broker away: try next time
            async with asyncio.timeout(5.0):
                committed = await consumer.committed(partition)
            if committed is not None:
                return int(committed)
            async with asyncio.timeout(5.0):
                position = int(await consumer.position(partition))
            previous, seen.position = seen.position, position
            return position if previous is None else min(previous, position)
        return None

    def _export(self, name: str, state: _Consumer, now: float) -> None:
        waiting = [p for p in state.partitions.values() if p.lag > 0]
        age = max((now - p.moved_at for p in waiting), default=0.0)
        lag = sum(p.lag for p in waiting)
        stalled = age >= self._stall_seconds
        self._lag.labels(consumer=name).set(lag)
        self._age.labels(consumer=name).set(age)
        self._stalled.labels(consumer=name).set(1 if stalled else 0)
        self._problems.pop(name, None)
        if stalled:
            self._problems[name] = (
                f"consumer {name} has {lag} records waiting and its offsets have not moved"
                f" for {age:.0f}s (limit {self._stall_seconds:g}s)"
            )

    def problems(self) -> list[str]:
        """Why the service is not making progress, as of the last check: one line per stalled
        consumer (the same verdict as mlbus_consumer_stalled)."""
        return list(self._problems.values())
