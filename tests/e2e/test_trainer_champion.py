"""The trainer against the real registry: commands with overrides, the champion scored on the
challenger's holdout, lineage recorded in the card (real broker, five processes)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from contracts import HOUSE_PRICES, ModelVersion, Topics, TrainModel
from mlbus.bus import publish_all, read_topic
from mlbus.datagen import RecordGenerator
from mlbus.runner import Stack
from tests.support.polling import eventually

pytestmark = pytest.mark.e2e

RECORDS = 600
ENV = {"MLBUS_TRAINER_RETRAIN_EVERY": "1000000", "MLBUS_TRAINER_MIN_RECORDS": "200"}


@pytest.fixture(scope="module")
def stack_env() -> dict[str, str]:
    return ENV


def events_of(messages: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [m for m in messages if m.get("kind") == kind]


async def train_and_wait(stack: Stack, command: TrainModel, versions: int) -> list[dict[str, Any]]:
    """Send `command`; the models topic once it holds `versions` ModelRegistered events."""
    config = stack.config
    topics = Topics.with_prefix(config.topic_prefix)
    await publish_all(config.bootstrap_servers, topics.trainer_commands, [command])
    messages = await read_topic(
        config.bootstrap_servers,
        topics.models,
        until=lambda m: len(events_of(m, "model.registered.v1")) >= versions,
        timeout=60,
    )
    stack.check_alive()
    return messages


async def champion_runs(stack: Stack) -> tuple[ModelVersion, ModelVersion]:
    config = stack.config
    topics = Topics.with_prefix(config.topic_prefix)
    generator = RecordGenerator(HOUSE_PRICES, seed=5, id_prefix="e2e")
    await publish_all(
        config.bootstrap_servers,
        topics.raw,
        generator.records(RECORDS),
        key=lambda r: r[HOUSE_PRICES.record_id_field],
    )

    async def buffered() -> int:
        async with httpx.AsyncClient(base_url=config.url("trainer"), timeout=5) as trainer:
            return int((await trainer.get("/status")).json()["records_buffered"])

    await eventually(
        buffered, what=f"the trainer buffering {RECORDS} records", until=lambda n: n >= RECORDS
    )
    await train_and_wait(stack, TrainModel(estimator="linear", reason="e2e first"), 1)
    command = TrainModel(
        estimator="hist_gradient_boosting",
        hyperparameters={"max_iter": 50},
        snapshot_mode="recent",
        snapshot_records=RECORDS,
        reason="e2e second",
    )
    await train_and_wait(stack, command, 2)
    async with httpx.AsyncClient(base_url=config.url("registry"), timeout=5) as registry:
        first, second = [
            ModelVersion.model_validate_json(
                (await registry.get(f"/models/house-prices/versions/{v}")).content
            )
            for v in (1, 2)
        ]
    return first, second


async def test_the_second_run_carries_the_champion_scored_on_its_holdout(stack: Stack) -> None:
    first, second = await champion_runs(stack)
    assert first.card.estimator == "linear"
    assert first.card.metrics.champion_version is None
    assert second.card.estimator == "hist_gradient_boosting"
    metrics = second.card.metrics
    # The same records and seed give the same holdout: v1 scores its own holdout RMSE.
    assert metrics.champion_version == 1
    assert metrics.champion_rmse == pytest.approx(first.card.metrics.rmse, rel=1e-5)
    assert metrics.hyperparameters is not None
    assert metrics.hyperparameters["max_iter"] == 50
    assert metrics.snapshot is not None
    assert metrics.snapshot["mode"] == "recent"
    assert metrics.snapshot["records"] == RECORDS
    assert second.card.snapshot_fingerprint == first.card.snapshot_fingerprint
    assert metrics.parity_spread_error is not None
    assert metrics.parity_tolerance is not None
    assert metrics.parity_spread_error <= metrics.parity_tolerance
