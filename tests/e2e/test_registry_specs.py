"""Data set specs through the real registry process and broker, registered with the CLI.

Two specs and a compatible new version of one go in with `mlbus spec register`; `mlbus specs`
lists them; registry.specs.v1 (created compacted) carries one SpecRegistered per new version,
keyed by data set. `mlbus spec retire` retires one: SpecRetired follows on the same key.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from aiokafka import AIOKafkaConsumer

from contracts import SPEC_EVENT, DatasetSpec, SpecEvent, SpecRegistered, SpecRetired, Topics
from mlbus.brokers import Broker
from mlbus.bus import ensure_topics
from mlbus.runner import Stack, StackConfig
from tests.support.kafka_groups import topic_config
from tests.support.spec_samples import churn, rentals, with_feature
from tests.support.stack_cli import stack_cli

pytestmark = pytest.mark.e2e
WIDER = with_feature(rentals(), {"name": "garden", "type": "boolean", "nullable": True})


@pytest.fixture(scope="module")
def registry_stack(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Only the registry (SQLite), with every topic of the stack created as `mlbus up` does."""
    config = StackConfig.with_free_ports(
        broker.bootstrap_servers,
        tmp_path_factory.mktemp("registry-specs-e2e"),
        topic_prefix=f"t{uuid.uuid4().hex[:10]}.",
    )
    stack = Stack(config)
    stack.log_dir.mkdir(parents=True, exist_ok=True)
    topics = Topics.with_prefix(config.topic_prefix)
    asyncio.run(ensure_topics(config.bootstrap_servers, topics.all()))
    stack.start_service("registry")
    try:
        stack.wait_service_ready("registry")
        yield stack
    finally:
        stack.stop()


def spec_file(directory: Path, spec: DatasetSpec, name: str) -> str:
    path = directory / name
    path.write_text(yaml.safe_dump(spec.model_dump(mode="json")), encoding="utf-8")
    return str(path)


async def read_specs(bootstrap: str, topic: str, count: int) -> list[tuple[bytes, SpecRegistered]]:
    """The first `count` records of `topic`, with their keys (within 30 s)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    found: list[tuple[bytes, SpecRegistered]] = []
    try:
        async with asyncio.timeout(30):
            while len(found) < count:
                for batch in (await consumer.getmany(timeout_ms=500)).values():
                    found.extend(
                        (m.key, SpecRegistered.model_validate_json(m.value)) for m in batch
                    )
    finally:
        await consumer.stop()
    return found


def test_specs_registered_with_the_cli_are_stored_listed_and_announced(
    registry_stack: Stack, tmp_path: Path
) -> None:
    files = [
        spec_file(tmp_path, rentals(), "rentals.yaml"),
        spec_file(tmp_path, churn(), "churn.yaml"),
        spec_file(tmp_path, WIDER, "rentals-2.yaml"),
        spec_file(tmp_path, WIDER, "again.yaml"),
    ]
    outputs = [stack_cli(registry_stack, "spec", "register", path) for path in files]
    assert [line.strip() for line in outputs] == [
        "rentals: spec v1 (major 1), new version",
        "churn: spec v1 (major 1), new version",
        "rentals: spec v2 (major 1), new version",
        "rentals: spec v2 (major 1), unchanged, already the latest",
    ]
    listed = [line.split() for line in stack_cli(registry_stack, "specs").splitlines()]
    assert listed == [
        ["churn", "v1", "major", "1", "classification", "1", "features"],
        ["rentals", "v2", "major", "1", "regression", "4", "features"],
    ]

    config = registry_stack.config
    topic = Topics.with_prefix(config.topic_prefix).specs
    events = asyncio.run(read_specs(config.bootstrap_servers, topic, 3))
    by_key = sorted((key, event.version) for key, event in events)
    assert by_key == [(b"churn", 1), (b"rentals", 1), (b"rentals", 2)]
    assert [e.spec for k, e in events if k == b"rentals"] == [rentals(), WIDER]
    assert all(event.dataset == key.decode() for key, event in events)
    assert asyncio.run(topic_config(config.bootstrap_servers, topic))["cleanup.policy"] == "compact"


async def read_spec_events(bootstrap: str, topic: str, key: bytes) -> list[SpecEvent]:
    """The spec events of `topic` keyed `key`, up to its first SpecRetired (within 30 s)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    found: list[SpecEvent] = []
    try:
        async with asyncio.timeout(30):
            while not any(isinstance(event, SpecRetired) for event in found):
                for batch in (await consumer.getmany(timeout_ms=500)).values():
                    found.extend(SPEC_EVENT.validate_json(m.value) for m in batch if m.key == key)
    finally:
        await consumer.stop()
    return found


def test_a_data_set_retired_with_the_cli_is_listed_and_announced(
    registry_stack: Stack, tmp_path: Path
) -> None:
    flats = rentals(name="flats")
    stack_cli(registry_stack, "spec", "register", spec_file(tmp_path, flats, "flats.yaml"))
    retired = stack_cli(registry_stack, "spec", "retire", "flats", "--reason", "sold")
    again = stack_cli(registry_stack, "spec", "retire", "flats")
    assert retired.startswith("flats: retired at v1 since ")
    assert again.startswith("flats: already retired at v1 since ")
    [listed] = [line for line in stack_cli(registry_stack, "specs").splitlines() if "flats" in line]
    assert listed.rstrip().endswith(": sold")

    config = registry_stack.config
    topic = Topics.with_prefix(config.topic_prefix).specs
    events = asyncio.run(read_spec_events(config.bootstrap_servers, topic, b"flats"))
    assert [event.kind for event in events] == ["spec.registered.v1", "spec.retired.v1"]
    assert isinstance(events[1], SpecRetired)
    assert (events[1].dataset, events[1].version, events[1].reason) == ("flats", 1, "sold")
