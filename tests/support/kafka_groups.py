"""A consumer group as the broker describes it, for tests and benches that watch rebalances."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient


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
