"""Fault 5b: the poison pills of issue 13 between valid records on one partition of Apache Kafka.

A lone surrogate (in a value, a record id, a field name) and a record with a 1,000,000-character
field name (its dead-letter event, unbounded, would exceed 1 MiB) once stalled ingest for good
while it republished the valid records of their batch thousands of times. Each is dead-lettered
alone, within seconds; every valid record is processed exactly once and none is republished.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from contracts import HOUSE_PRICES, Topics
from mlbus.datagen import RecordGenerator
from mlbus.runner import Stack
from tests.support.accounting import account, read_all, wait_until_processed

pytestmark = pytest.mark.e2e

PILLS = {
    "surrogate in a value": b'["\\ud800"]',
    "surrogate in a record id": b'{"record_id": "\\udc00pill", "area": 5000}',
    "surrogate in a field name": b'{"record_id": "pill-key", "\\ud83dname": 1}',
    "a 1,000,000-character field name": json.dumps(
        {"record_id": "pill-huge", "k" * 1_000_000: 1}
    ).encode(),
}
PARTITION_KEY = b"one-partition"


async def test_poison_pills_are_dead_lettered_alone_and_valid_records_processed_once(
    trained_stack: Stack,
) -> None:
    config = trained_stack.config
    bootstrap, topics = config.bootstrap_servers, Topics.with_prefix(config.topic_prefix)
    generator = RecordGenerator(HOUSE_PRICES, seed=13, id_prefix="pills")
    valid = [json.dumps(r).encode() for r in generator.records(100, labelled=False)]
    # valid x20, pill, valid x20, pill, ... valid x20: one partition, in this order.
    messages: list[bytes] = []
    for index, pill in enumerate(PILLS.values()):
        messages += [*valid[index * 20 : (index + 1) * 20], pill]
    messages += valid[len(PILLS) * 20 :]
    started = time.monotonic()
    offsets = await _publish_in_order(bootstrap, topics.raw, messages)
    pill_offsets = {offsets[messages.index(pill)] for pill in PILLS.values()}

    dead, dead_lettered_after = await _dead_letters_at(bootstrap, topics, pill_offsets)
    print(
        f"fault 5b: the {len(PILLS)} pills dead-lettered {dead_lettered_after:.2f}s after publish"
    )
    result, _ = await wait_until_processed(
        bootstrap, config.topic_prefix, expected=len(valid), record_prefix="pills", timeout=60
    )
    took = time.monotonic() - started
    print(f"fault 5b: {len(valid)} valid records processed {took:.1f}s after publish")
    print(f"fault 5b: {result.summary()}")

    assert result.lost == [], result.summary()
    assert result.processed == len(valid), result.summary()
    assert result.duplicated == {}, result.summary()
    assert result.unstable_ids == {}, result.summary()
    assert result.predictions == len(valid)  # each scored once: nothing was republished
    by_pill = {name: dead[offsets[messages.index(pill)]] for name, pill in PILLS.items()}
    huge = by_pill.pop("a 1,000,000-character field name")
    for name, event in by_pill.items():
        assert [r["rule"] for r in event["reasons"]] == ["unicode"], (name, event["reasons"])
    [unknown] = [r for r in huge["reasons"] if r["rule"] == "unknown_field"]
    assert unknown["field"].endswith("more characters cut]")  # bounded, with a note
    for event in dead.values():
        assert len(json.dumps(event)) < 200_000
    everything = await account(bootstrap, config.topic_prefix)
    assert everything.duplicated.get("rejected", 0) == 0
    metrics = httpx.get(config.url("ingest") + "/metrics", timeout=5).text
    assert _metric(metrics, "mlbus_consumer_split_batches_total") == 0  # no batch ever failed
    assert _metric(metrics, "mlbus_consumer_redelivered_records_total") == 0
    ready = httpx.get(config.url("ingest") + "/readyz", timeout=5)
    assert ready.status_code == 200, ready.text
    assert dead_lettered_after < 10
    trained_stack.check_alive()


async def _publish_in_order(bootstrap: str, topic: str, messages: list[bytes]) -> list[int]:
    """Send each message with the same key (one partition), in order; their offsets."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, max_request_size=2 * 1024 * 1024, acks="all"
    )
    await producer.start()
    try:
        sends = [await producer.send(topic, m, key=PARTITION_KEY) for m in messages]
        metadata = await asyncio.gather(*sends)
    finally:
        await producer.stop()
    assert len({m.partition for m in metadata}) == 1
    return [m.offset for m in metadata]


async def _dead_letters_at(
    bootstrap: str, topics: Topics, offsets: set[int], timeout: float = 30.0
) -> tuple[dict[int, dict[str, Any]], float]:
    """The dead-letter events of the raw messages at `offsets`, and the seconds until all came."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        found: dict[int, dict[str, Any]] = {}
        for value in (await read_all(bootstrap, [topics.rejected]))[topics.rejected]:
            event = json.loads(value)
            if event["source"] == topics.raw and event["offset"] in offsets:
                assert event["offset"] not in found, "a pill was dead-lettered twice"
                found[event["offset"]] = event
        if set(found) == offsets:
            return found, time.monotonic() - started
        await asyncio.sleep(0.2)
    raise TimeoutError(f"the pills at {sorted(offsets)} were not dead-lettered in {timeout}s")


def _metric(text: str, name: str) -> float:
    values = re.findall(rf"^{name}\{{[^}}]*\}} (\S+)$", text, re.M)
    return sum(float(v) for v in values)
