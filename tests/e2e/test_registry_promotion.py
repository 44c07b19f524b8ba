"""The registry as a real process on PostgreSQL: the promotion policy, then a CLI rollback."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from contracts import Topics
from mlbus.brokers import Broker
from mlbus.bus import ensure_topics, read_topic
from mlbus.runner import Stack, StackConfig
from tests.unit.registry.registry_postgres import fresh_database
from tests.unit.registry.registry_samples import make_spec_model

pytestmark = pytest.mark.e2e
NAME = "house-prices"


@pytest.fixture(scope="module")
def registry_stack(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Only the registry, on a fresh PostgreSQL database, checking inputs against the spec."""
    config = StackConfig.with_free_ports(
        broker.bootstrap_servers,
        tmp_path_factory.mktemp("registry-e2e"),
        topic_prefix=f"t{uuid.uuid4().hex[:10]}.",
        extra_env={
            "MLBUS_REGISTRY_DATABASE_URL": fresh_database(),
            "MLBUS_REGISTRY_SPEC_CHECK": "true",
        },
    )
    stack = Stack(config)
    stack.log_dir.mkdir(parents=True, exist_ok=True)
    topics = Topics.with_prefix(config.topic_prefix)
    asyncio.run(ensure_topics(config.bootstrap_servers, [topics.models]))
    stack.start_service("registry")
    try:
        stack.wait_service_ready("registry")
        yield stack
    finally:
        stack.stop()


def upload(stack: Stack, rmse: float) -> httpx.Response:
    card, artifact = make_spec_model(rmse=rmse)
    return httpx.post(
        f"{stack.config.url('registry')}/models/{NAME}/versions",
        files={"artifact": ("model.onnx", artifact)},
        data={"card": card.model_dump_json()},
        headers={"Authorization": f"Bearer {stack.config.registry_token}"},
        timeout=30,
    )


def models_topic(stack: Stack, count: int) -> list[dict[str, Any]]:
    topic = Topics.with_prefix(stack.config.topic_prefix).models
    return asyncio.run(
        read_topic(
            stack.config.bootstrap_servers, topic, until=lambda m: len(m) >= count, timeout=30
        )
    )


def mlbus(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MLBUS_REGISTRY_TOKEN": stack.config.registry_token}
    return subprocess.run(
        [sys.executable, "-m", "mlbus", *args, "--registry", stack.config.url("registry")],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_worse_model_stays_challenger_better_one_becomes_champion(registry_stack: Stack) -> None:
    first, worse, better = (upload(registry_stack, rmse) for rmse in (10.0, 12.0, 8.0))
    assert [r.status_code for r in (first, worse, better)] == [201, 201, 201], worse.text
    assert worse.json()["aliases"] == ["challenger"]
    assert better.json()["aliases"] == ["champion"]

    events = models_topic(registry_stack, 5)
    assert [(e["kind"], e["version"]) for e in events[:5]] == [
        ("model.registered.v1", 1),
        ("model.promoted.v1", 1),
        ("model.registered.v1", 2),
        ("model.registered.v1", 3),
        ("model.promoted.v1", 3),
    ]
    assert events[4]["previous_version"] == 1
    assert "beats champion" in events[4]["reason"]


def test_cli_shows_a_version_and_rolls_back(registry_stack: Stack) -> None:
    shown = mlbus(registry_stack, "models", "show", NAME, "2")
    assert shown.returncode == 0, shown.stderr
    assert "registered as  challenger: does not beat champion" in shown.stdout
    assert "parent         v1" in shown.stdout

    rolled = mlbus(registry_stack, "rollback", NAME, "--reason", "e2e check")
    assert rolled.returncode == 0, rolled.stderr
    assert "champion is now v1" in rolled.stdout
    [rollback] = [e for e in models_topic(registry_stack, 6) if e["kind"].endswith("back.v1")]
    assert (rollback["version"], rollback["previous_version"]) == (1, 3)

    denied = mlbus(registry_stack, "promote", NAME, "3", "--token", "wrong")
    assert denied.returncode == 1
    assert "401" in denied.stderr
    history = mlbus(registry_stack, "models", "history", NAME)
    assert history.returncode == 0, history.stderr
    assert "rollback by" in history.stdout
    assert "v3 -> v1" in history.stdout


def test_a_model_not_matching_the_spec_is_refused_and_announced(
    registry_stack: Stack, tmp_path: Path
) -> None:
    card, artifact = make_spec_model()
    card = card.model_copy(update={"inputs": card.inputs[:-1]})  # drops furnishingstatus
    response = httpx.post(
        f"{registry_stack.config.url('registry')}/models/{NAME}/versions",
        files={"artifact": ("model.onnx", artifact)},
        data={"card": card.model_dump_json()},
        headers={"Authorization": f"Bearer {registry_stack.config.registry_token}"},
        timeout=30,
    )
    assert response.status_code == 422
    assert "furnishingstatus" in response.json()["detail"]
    refused = [e for e in models_topic(registry_stack, 7) if e["kind"] == "model.refused.v1"]
    assert refused
    assert refused[0]["refused_by"] == "registry"
    versions = httpx.get(f"{registry_stack.config.url('registry')}/models/{NAME}/versions")
    assert len(versions.json()) == 3
