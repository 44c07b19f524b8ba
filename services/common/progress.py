"""Liveness that sees progress: each consumer's lag, and how long its offsets have stood still.

A consumer that loops on one batch keeps its process, its broker connection and /healthz alive,
and makes no progress. Every few seconds this looks at each consumer group of a service's broker:
per assigned partition, its high watermark (from the last fetch) and its committed offset (its
position for a consumer that never commits, such as the trainer's buffer). A partition with
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
    offset: int | None = None  # committed (or position), as last seen
    moved_at: float = 0.0  # when it last moved (or was first seen)
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
            name = "+".join(sorted(getattr(subscriber, "topics", ()) or ())) or str(group)
            await self._check(name, consumer)

    async def _check(self, name: str, consumer: AIOKafkaConsumer) -> None:
        state = self._consumers.setdefault(name, _Consumer())
        now = self._clock()
        assigned = consumer.assignment()
        for gone in set(state.partitions) - assigned:
            del state.partitions[gone]
        for partition in assigned:
            offset = await _progress_offset(consumer, partition)
            highwater = consumer.highwater(partition)
            seen = state.partitions.setdefault(partition, _Partition(moved_at=now))
            if offset is not None and offset != seen.offset:
                seen.offset, seen.moved_at = offset, now
            if highwater is not None and offset is not None:
                seen.lag = max(0, highwater - offset)
        self._export(name, state, now)

    def _export(self, name: str, state: _Consumer, now: float) -> None:
        waiting = [p for p in state.partitions.values() if p.lag > 0]
        age = max((now - p.moved_at for p in waiting), default=0.0)
        self._lag.labels(consumer=name).set(sum(p.lag for p in state.partitions.values()))
        self._age.labels(consumer=name).set(age)
        self._stalled.labels(consumer=name).set(1 if age >= self._stall_seconds else 0)

    def problems(self) -> list[str]:
        """Why the service is not making progress: one line per stalled consumer."""
        now = self._clock()
        found = []
        for name, state in self._consumers.items():
            waiting = [p for p in state.partitions.values() if p.lag > 0]
            age = max((now - p.moved_at for p in waiting), default=0.0)
            if age >= self._stall_seconds:
                lag = sum(p.lag for p in waiting)
                found.append(
                    f"consumer {name} has {lag} records waiting and its offsets have not moved"
                    f" for {age:.0f}s (limit {self._stall_seconds:g}s)"
                )
        return found


async def _progress_offset(consumer: AIOKafkaConsumer, partition: TopicPartition) -> int | None:
    """The partition's committed offset, or the consumer's position when nothing is committed."""
    with contextlib.suppress(Exception):  # a rebalance or a broker away: try again next time
        committed = await asyncio.wait_for(consumer.committed(partition), 5.0)
        if committed is not None:
            return int(committed)
        return int(await asyncio.wait_for(consumer.position(partition), 5.0))
    return None
