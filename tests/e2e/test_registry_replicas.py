"""Two registry processes over one PostgreSQL database and one S3 bucket (SeaweedFS).

Both answer the same; concurrent promotions of different versions through both leave one
champion and a history in which every move starts where the one before ended; and each
move is announced on the models topic exactly once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import random
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import onnx
import pytest

from contracts import Topics
from mlbus.brokers import Broker
from mlbus.bus import ensure_topics, read_topic
from mlbus.runner import Stack, StackConfig
from tests.e2e.seaweedfs_server import SeaweedS3
from tests.unit.registry.registry_postgres import fresh_database
from tests.unit.registry.registry_samples import make_spec_model

pytestmark = pytest.mark.e2e
NAME = "house-prices"
VERSIONS = 6
PROMOTIONS = 60


@pytest.fixture(scope="module")
def replicas(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Stack]]:
    seaweed = SeaweedS3(tmp_path_factory.mktemp("seaweedfs-replicas"))
    seaweed.start()
    env = {
        **seaweed.registry_env(seaweed.new_bucket()),
        "MLBUS_REGISTRY_DATABASE_URL": fresh_database(),
    }
    first = StackConfig.with_free_ports(
        broker.bootstrap_servers,
        tmp_path_factory.mktemp("replica-a"),
        topic_prefix=f"t{uuid.uuid4().hex[:10]}.",
        extra_env=env,
    )
    second = dataclasses.replace(
        StackConfig.with_free_ports(
            broker.bootstrap_servers, tmp_path_factory.mktemp("replica-b"), extra_env=env
        ),
        topic_prefix=first.topic_prefix,
        registry_token=first.registry_token,
    )
    asyncio.run(
        ensure_topics(first.bootstrap_servers, [Topics.with_prefix(first.topic_prefix).models])
    )
    stacks = [Stack(first), Stack(second)]
    try:
        for stack in stacks:
            stack.log_dir.mkdir(parents=True, exist_ok=True)
            stack.start_service("registry")
        for stack in stacks:
            stack.wait_service_ready("registry", timeout=90)
        yield stacks
    finally:
        for stack in stacks:
            stack.stop()
        seaweed.stop()


def write(stack: Stack, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.post(
        f"{stack.config.url('registry')}/models/{NAME}{path}",
        headers={"Authorization": f"Bearer {stack.config.registry_token}"},
        timeout=60,
        **kwargs,
    )


def read(stack: Stack, path: str) -> Any:
    response = httpx.get(f"{stack.config.url('registry')}/models/{NAME}{path}", timeout=30)
    response.raise_for_status()
    return response.json() if "json" in response.headers["content-type"] else response.content


def upload_versions(stacks: list[Stack]) -> None:
    for number in range(VERSIONS):
        card, artifact = make_spec_model(rmse=10.0 + number)  # the first stays champion
        model = onnx.load_model_from_string(artifact)
        model.doc_string = f"replica test v{number + 1}"  # each version its own artifact
        artifact = model.SerializeToString()
        response = write(
            stacks[number % 2],
            "/versions",
            files={"artifact": ("model.onnx", artifact)},
            data={"card": card.model_dump_json()},
        )
        assert response.status_code == 201, response.text


def promote(stacks: list[Stack], attempt: int) -> tuple[int, int]:
    version = random.randint(1, VERSIONS)
    response = write(
        stacks[attempt % 2],
        f"/versions/{version}/promote",
        json={"reason": f"hammer {attempt}", "actor": f"replica-{attempt % 2}"},
    )
    assert response.status_code in (200, 409), response.text
    return version, response.status_code


def test_concurrent_promotions_through_both_replicas(replicas: list[Stack]) -> None:
    upload_versions(replicas)
    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(lambda i: promote(replicas, i), range(PROMOTIONS)))
    promoted = sum(1 for _, status in outcomes if status == 200)
    assert promoted > 0

    # One champion, and both replicas name the same one.
    champions = [read(stack, "/aliases/champion")["version"] for stack in replicas]
    assert champions[0] == champions[1]
    # Every move of the champion starts where the one before ended: none lost, none forked.
    history = read(replicas[0], "/alias-history?alias=champion")
    assert history == read(replicas[1], "/alias-history?alias=champion")
    for before, after in itertools.pairwise(history):
        assert after["from_version"] == before["to_version"], (before, after)
    assert history[-1]["to_version"] == champions[0]
    assert sum(1 for m in history if m["kind"] == "promote") == promoted

    # Each move announced exactly once, in the order of the history.
    champion_moves = [(m["to_version"], m["from_version"]) for m in history]
    expected = VERSIONS + len(champion_moves)  # ModelRegistered per version + ModelPromoted
    topic = Topics.with_prefix(replicas[0].config.topic_prefix).models
    events = asyncio.run(
        read_topic(
            replicas[0].config.bootstrap_servers,
            topic,
            until=lambda m: len(m) > expected,  # waits the full time: a duplicate shows up
            timeout=15,
        )
    )
    assert len({e["event_id"] for e in events}) == len(events)
    promotions = [
        (e["version"], e["previous_version"]) for e in events if e["kind"] == "model.promoted.v1"
    ]
    assert promotions == champion_moves
    assert sum(1 for e in events if e["kind"] == "model.registered.v1") == VERSIONS


def test_both_replicas_serve_the_same_artifacts(replicas: list[Stack]) -> None:
    versions = read(replicas[0], "/versions")
    assert versions == read(replicas[1], "/versions")
    for version in versions:
        path = f"/versions/{version['version']}/artifact"
        assert read(replicas[0], path) == read(replicas[1], path)
