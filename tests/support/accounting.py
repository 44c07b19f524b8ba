"""Test-only accounting: read every topic of a prefix and say what was lost or duplicated.

A fault test publishes records, breaks something, and then calls `account(...)`: the answer
counts what the raw topic received, what ingest accepted or dead-lettered, which accepted
requests got a prediction (processed) and which did not (lost), and every duplicate, so a
failing test prints exactly where records went missing.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from contracts import Topics
from mlbus.publishing import topic_partitions
from services.common.offsets import log_end_offsets


@dataclass
class Accounting:
    """What the topics of one prefix hold, summed up for at-least-once checks."""

    received: int  # messages on the raw topic
    accepted_training: int  # distinct event ids on the records topic
    accepted_requests: int  # distinct event ids on the prediction requests topic
    dead_lettered: int  # distinct event ids on the rejected topic
    processed: int  # distinct requests that have at least one prediction
    predictions: int  # prediction messages, duplicates included
    lost: list[str] = field(default_factory=list)  # record ids of requests never predicted
    # Messages beyond the first per key: by record id on raw (producer retries), by event id
    # on ingest's topics, by request event id on the results.
    duplicated: dict[str, int] = field(default_factory=dict)
    # A record id sent once but published twice under different event ids: a duplicate that
    # consumers cannot drop.
    unstable_ids: dict[str, list[str]] = field(default_factory=dict)
    # Predictions that repeat a request under a new event id of their own (the monitor counts them).
    prediction_event_ids: int = 0
    unreadable: dict[str, int] = field(default_factory=dict)

    @property
    def total_duplicated(self) -> int:
        return sum(self.duplicated.values())

    def summary(self) -> str:
        lines = [
            f"received {self.received} | accepted {self.accepted_training} training + "
            f"{self.accepted_requests} requests | dead-lettered {self.dead_lettered}",
            f"processed {self.processed}/{self.accepted_requests} requests "
            f"({self.predictions} predictions, {self.prediction_event_ids} distinct event ids)"
            f" | lost {len(self.lost)} | duplicated {self.duplicated}",
        ]
        if self.lost:
            lines.append(f"lost record ids (first 20): {sorted(self.lost)[:20]}")
        if self.unstable_ids:
            sample = dict(list(self.unstable_ids.items())[:5])
            lines.append(f"record ids republished under new event ids: {sample}")
        if self.unreadable:
            lines.append(f"unreadable messages per topic: {self.unreadable}")
        return "\n".join(lines)


async def read_all(
    bootstrap_servers: str, topics: Iterable[str], *, timeout: float = 30.0
) -> dict[str, list[bytes]]:
    """Every message in `topics`, from the beginning to where each partition ends now."""
    found: dict[str, list[bytes]] = {name: [] for name in topics}
    partitions = await topic_partitions(bootstrap_servers, found)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    try:
        ends = await log_end_offsets(consumer, partitions)
        behind = {tp for tp, end in ends.items() if end > 0}
        consumer.assign(list(behind))
        await consumer.seek_to_beginning(*behind)
        deadline = time.monotonic() + timeout
        while behind:
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read {sorted(found)} to their end in {timeout}s")
            for tp, messages in (await consumer.getmany(*behind, timeout_ms=300)).items():
                found[tp.topic].extend(m.value for m in messages if m.value)
            behind = {tp for tp in behind if await consumer.position(tp) < ends[tp]}
    finally:
        await consumer.stop()
    return found


def tally(
    messages: dict[str, list[bytes]], topics: Topics, *, record_prefix: str = ""
) -> Accounting:
    """Accounting of the messages read from the topics of one prefix.

    With `record_prefix`, only events (and raw JSON objects) whose record id starts with it
    count: several tests can share one stack and still account for their own records.
    """
    unreadable: Counter[str] = Counter()

    def parsed(topic: str) -> list[dict[str, Any]]:
        out = []
        for value in messages.get(topic, []):
            try:
                event = json.loads(value)
            except (ValueError, RecursionError):  # a poison test sends both
                unreadable[topic] += 1
                continue
            if _record_id(event).startswith(record_prefix):
                out.append(event)
        return out

    raw_ids = Counter(_record_id(event) for event in parsed(topics.raw))
    republished = {record for record, n in raw_ids.items() if n > 1 and record}
    records, requests = parsed(topics.records), parsed(topics.predict_requests)
    rejected, predictions = parsed(topics.rejected), parsed(topics.predict_results)
    request_ids = {r["event_id"]: r["record_id"] for r in requests if "event_id" in r}
    predicted = Counter(p.get("request_event_id") for p in predictions)
    duplicated = {
        "raw": sum(raw_ids[record] - 1 for record in republished),
        "records": _extra(r.get("event_id") for r in records),
        "requests": _extra(r.get("event_id") for r in requests),
        "rejected": _extra(r.get("event_id") for r in rejected),
        "predictions": sum(n - 1 for key, n in predicted.items() if key in request_ids),
    }
    return Accounting(
        received=len(messages.get(topics.raw, []))
        if not record_prefix
        else len(parsed(topics.raw)),
        accepted_training=len({r.get("event_id") for r in records}),
        accepted_requests=len(request_ids),
        dead_lettered=len({r.get("event_id") for r in rejected}),
        processed=sum(1 for event_id in request_ids if predicted[event_id]),
        predictions=len(predictions),
        lost=[record for event_id, record in request_ids.items() if not predicted[event_id]],
        duplicated={name: n for name, n in duplicated.items() if n},
        unstable_ids={
            record: ids
            for record, ids in (_unstable(records) | _unstable(requests)).items()
            if record not in republished  # sent twice by the producer: two events are right
        },
        prediction_event_ids=len({p.get("event_id") for p in predictions}),
        unreadable=dict(unreadable),
    )


async def account(
    bootstrap_servers: str, topic_prefix: str, *, record_prefix: str = ""
) -> Accounting:
    """Read all topics of `topic_prefix` and tally them (see `tally` for `record_prefix`)."""
    topics = Topics.with_prefix(topic_prefix)
    messages = await read_all(bootstrap_servers, topics.all())
    return tally(messages, topics, record_prefix=record_prefix)


async def wait_until_processed(
    bootstrap_servers: str,
    topic_prefix: str,
    *,
    expected: int,
    record_prefix: str = "",
    timeout: float = 60.0,
) -> tuple[Accounting, float]:
    """Poll until `expected` requests are processed; the last accounting and the seconds waited."""
    started = time.monotonic()
    while True:
        result = await account(bootstrap_servers, topic_prefix, record_prefix=record_prefix)
        waited = time.monotonic() - started
        if result.processed >= expected or waited > timeout:
            return result, waited
        await asyncio.sleep(0.5)


async def wait_until_committed(
    bootstrap_servers: str,
    group_id: str,
    topics: list[str],
    *,
    timeout: float = 60.0,
    check: Callable[[], None] = lambda: None,
) -> None:
    """Until `group_id` has committed the end of every partition of `topics` (asked without
    joining the group); `check` runs between polls (e.g. raise if a process died)."""
    partitions = await topic_partitions(bootstrap_servers, topics)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers, group_id=group_id, enable_auto_commit=False
    )
    await consumer.start()
    behind: dict[TopicPartition, int] = {}
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            check()
            ends = await log_end_offsets(consumer, partitions)
            behind = {
                tp: end
                for tp, end in ends.items()
                if end > 0 and ((await consumer.committed(tp)) or 0) < end
            }
            if not behind:
                return
            await asyncio.sleep(0.2)
    finally:
        await consumer.stop()
    raise TimeoutError(f"group {group_id} still behind after {timeout:.0f}s on {behind}")


def _record_id(event: Any) -> str:
    if isinstance(event, dict):
        return str(event.get("record_id") or "")
    return ""


def _extra(keys: Iterable[Any]) -> int:
    return sum(n - 1 for key, n in Counter(keys).items() if key is not None)


def _unstable(events: list[dict[str, Any]]) -> dict[str, list[str]]:
    ids: defaultdict[str, set[str]] = defaultdict(set)
    for event in events:
        ids[str(event.get("record_id"))].add(str(event.get("event_id")))
    return {record: sorted(found) for record, found in ids.items() if len(found) > 1}
