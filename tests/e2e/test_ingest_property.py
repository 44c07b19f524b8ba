"""Bad input, at volume: 10,000+ generated messages through the running ingest on a real broker.

Every message ends in exactly one output topic, every rejection names its reasons, the process
keeps running, and the metrics account for every record.
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from contracts import Topics
from mlbus.brokers import Broker
from mlbus.bus import producer
from mlbus.publishing import topic_partitions
from mlbus.runner import Stack
from services.common.offsets import log_end_offsets
from tests.e2e.ingest_messages import Generated, messages
from tests.e2e.ingest_support import outcomes, running_ingest
from tests.support.polling import eventually_sync

pytestmark = pytest.mark.e2e

MESSAGES = 10_000


def generate(count: int) -> list[Generated]:
    """At least `count` messages drawn by hypothesis, numbered, duplicates resolved."""
    drawn: list[Generated] = []

    @settings(
        max_examples=count // 20 + 20,
        phases=[Phase.generate],
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(batch=st.lists(messages(), min_size=20, max_size=20))
    def draw(batch: list[Generated]) -> None:
        drawn.extend(batch)

    draw()
    return _numbered(drawn)


def _numbered(drawn: list[Generated]) -> list[Generated]:
    """Unique record ids; each duplicate becomes a copy of an earlier valid message."""
    numbered: list[Generated] = []
    valid: list[Generated] = []
    for message in drawn:
        if message.kind == "duplicate":
            if not valid:
                continue
            original = valid[-1 - message.back % len(valid)]
            message.record = copy.deepcopy(original.record)
        elif message.record is not None:
            message.record["record_id"] = f"m{len(numbered)}"
        if message.kind == "valid":
            valid.append(message)
        numbered.append(message)
    return numbered


@pytest.fixture(scope="module")
def ingest(
    broker: Broker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Stack, Topics]]:
    with running_ingest(broker.bootstrap_servers, tmp_path_factory.mktemp("ingest-prop")) as up:
        yield up


async def publish(bootstrap: str, topic: str, batch: list[Generated]) -> list[tuple[int, int]]:
    """Publish in bulk; the (partition, offset) of each message."""
    async with producer(bootstrap) as client:
        pending = []
        for message in batch:
            key = message.record["record_id"].encode() if message.record is not None else None
            pending.append(await client.send(topic, message.body(), key=key))
        sent = await asyncio.gather(*pending)
    return [(metadata.partition, metadata.offset) for metadata in sent]


def wait_accounted(stack: Stack, total: int, timeout: float = 90) -> dict[str, float]:
    def counted() -> dict[str, float]:
        stack.check_alive()  # the service never stops
        return outcomes(stack)

    return eventually_sync(
        counted,
        what=f"{total} messages accounted for",
        until=lambda found: sum(found.values()) >= total,
        timeout=timeout,
        interval=0.3,
        context=lambda: stack.log_tail("ingest"),
    )


async def read_to_end(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    """Every message of `topic` up to its current end offsets."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = await topic_partitions(bootstrap, [topic])
        ends = await log_end_offsets(consumer, partitions)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        values: list[dict[str, Any]] = []
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                values.extend(json.loads(r.value) for r in records if r.value is not None)
        return values
    finally:
        await consumer.stop()


def test_every_generated_message_ends_in_exactly_one_output_topic(
    ingest: tuple[Stack, Topics], broker: Broker
) -> None:
    stack, topics = ingest
    started = time.monotonic()
    batch = generate(MESSAGES)
    print(f"generated {len(batch)} in {time.monotonic() - started:.1f}s")
    assert len(batch) >= MESSAGES
    kinds = Counter(m.kind for m in batch)
    assert set(kinds) >= {"valid", "malformed", "wrong_type", "missing", "extra", "nan_inf",
                          "huge_string", "unknown_category", "duplicate", "not_object"}  # fmt: skip

    positions = asyncio.run(publish(broker.bootstrap_servers, topics.raw, batch))
    print(f"published at {time.monotonic() - started:.1f}s")
    counted = wait_accounted(stack, len(batch))
    print(f"accounted at {time.monotonic() - started:.1f}s")
    expected = Counter(m.outcome for m in batch)
    assert counted == {
        "accepted": expected["training"] + expected["prediction"],
        "rejected": expected["rejected"],
        "duplicate": expected["duplicate"],
    }, f"received {len(batch)}; log tail:\n{stack.log_tail('ingest')}"

    bootstrap = broker.bootstrap_servers
    training = asyncio.run(read_to_end(bootstrap, topics.records))
    prediction = asyncio.run(read_to_end(bootstrap, topics.predict_requests))
    rejected = asyncio.run(read_to_end(bootstrap, topics.rejected))
    print(f"read at {time.monotonic() - started:.1f}s")
    assert len(training) + len(prediction) + len(rejected) == len(batch)

    for outcome, events in (("training", training), ("prediction", prediction)):
        want = sorted(m.record["record_id"] for m in batch if m.outcome == outcome)  # type: ignore[index]
        assert sorted(e["record_id"] for e in events) == want

    by_position = {(e["partition"], e["offset"]): e for e in rejected}
    assert len(by_position) == len(rejected), "a message was dead-lettered twice"
    for message, position in zip(batch, positions, strict=True):
        if message.outcome not in ("rejected", "duplicate"):
            assert position not in by_position
            continue
        event = by_position[position]
        assert event["source"] == topics.raw
        assert event["reasons"], "a rejection without reasons"
        rules = {reason["rule"] for reason in event["reasons"]}
        assert all(reason["message"] for reason in event["reasons"])
        if message.outcome == "duplicate":
            assert rules == {"duplicate"}
        else:
            assert message.rule in rules, (message.kind, event["reasons"])

    stack.check_alive()
    assert httpx.get(stack.config.url("ingest") + "/healthz", timeout=5).status_code == 200
