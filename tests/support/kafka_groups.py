"""Consumer groups and topics as the broker describes them, for tests and benches that watch
rebalances and topic settings."""

from __future__ import annotations

import asyncio
import time

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from tests.support.polling import eventually_sync


async def group_state(bootstrap: str, group: str) -> tuple[str, int]:
    """The group's state (Stable, PreparingRebalance, ...) and how many members it has."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [response] = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    described = response.to_object()["groups"][0]
    return str(described["state"]), len(described["members"])


def wait_stable(bootstrap: str, group: str, members: int) -> float:
    """Wall time (ms) once `group` is Stable with `members` members."""
    eventually_sync(
        lambda: asyncio.run(group_state(bootstrap, group)),
        what=f"group {group} Stable with {members} member(s)",
        until=lambda found: found == ("Stable", members),
        timeout=120,
        interval=0.1,
    )
    return time.time() * 1000


async def first_timestamps(bootstrap: str, topic: str, prefix: str, count: int) -> dict[str, int]:
    """key -> broker timestamp (ms) of the first message keyed so, for `count` keys that start
    with `prefix` (or as many as arrive within two minutes)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    seen: dict[str, int] = {}
    deadline = time.monotonic() + 120
    try:
        while len(seen) < count and time.monotonic() < deadline:
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                for message in batch:
                    if message.key and message.key.startswith(prefix.encode()):
                        seen.setdefault(message.key.decode(), message.timestamp)
    finally:
        await consumer.stop()
    return seen


async def topic_config(bootstrap: str, topic: str) -> dict[str, str]:
    """The topic's configuration entries, as the broker reports them."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    finally:
        await admin.close()
    [resource] = response.resources
    return {str(entry[0]): str(entry[1]) for entry in resource[4]}
