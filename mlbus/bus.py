"""Small aiokafka helpers for the CLI, the demo and the tests: publish and read topics."""

from __future__ import annotations

import asyncio
import json
import time
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pydantic import BaseModel

from contracts.topics import COMPACTED_TOPICS, DATASET_HEADER

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterable

# Topics where only the latest value per key matters (the monitor's checkpoints, the data
# sets' specs): compacted, with segments rolled every 10 minutes so the cleaner can drop
# superseded values soon.
COMPACTED = {"cleanup.policy": "compact", "segment.ms": "600000"}


@asynccontextmanager
async def producer(bootstrap_servers: str) -> AsyncIterator[AIOKafkaProducer]:
    client = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, linger_ms=5, acks="all")
    try:
        await client.start()  # inside: a start that fails (broker down) still closes the client
        yield client
    finally:
        await client.stop()


def dataset_headers(dataset: str | None) -> list[tuple[str, bytes]] | None:
    """The headers of a raw message of `dataset`; None names none (ingest's default data set)."""
    return None if dataset is None else [(DATASET_HEADER, dataset.encode())]


def encode(payload: Any) -> bytes:
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, BaseModel):
        return payload.model_dump_json().encode()
    return json.dumps(payload, allow_nan=True).encode()


async def publish_all(
    bootstrap_servers: str,
    topic: str,
    payloads: Iterable[Any],
    *,
    key: Callable[[Any], str | None] = lambda _: None,
    on_sent: Callable[[int], None] | None = None,
) -> int:
    """Publish every payload (bytes, pydantic model or JSON-able value); wait for all acks."""
    sent = 0
    async with producer(bootstrap_servers) as client:
        pending: list[asyncio.Future[Any]] = []
        for payload in payloads:
            record_key = key(payload)
            pending.append(
                await client.send(
                    topic, encode(payload), key=record_key.encode() if record_key else None
                )
            )
            sent += 1
            if len(pending) >= 1000:
                await asyncio.gather(*pending)
                pending.clear()
                if on_sent:
                    on_sent(sent)
        await asyncio.gather(*pending)
        if on_sent:
            on_sent(sent)
    return sent


async def read_topic(
    bootstrap_servers: str,
    topic: str,
    *,
    until: Callable[[list[dict[str, Any]]], bool],
    timeout: float,
) -> list[dict[str, Any]]:
    """Read `topic` from the beginning (no group) until `until(messages)` or the timeout."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    try:
        while not until(messages) and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for batch in batches.values():
                messages.extend(json.loads(m.value) for m in batch if m.value is not None)
    finally:
        await consumer.stop()
    return messages


async def ensure_topics(
    bootstrap_servers: str,
    topics: Iterable[str],
    partitions: int = 4,
    *,
    replication_factor: int = 1,
) -> None:
    """Create the topics that do not exist yet, so no consumer waits for auto-creation.

    A replicated cluster wants `replication_factor` 3; the copies that must have a record
    before acks=all counts it (min.insync.replicas) are the brokers' setting.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(name, partitions, replication_factor, topic_configs=topic_config(name))
            for name in topics
            if name not in existing
        ]
        if missing:
            await admin.create_topics(missing)
    finally:
        await admin.close()


def topic_config(name: str) -> dict[str, str]:
    """Broker settings a topic is created with (whatever prefix it has)."""
    return dict(COMPACTED) if name.endswith(COMPACTED_TOPICS) else {}
