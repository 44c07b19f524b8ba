"""Promotion judged on holdout records neither model trained on (real broker, five processes).

A champion trained on 150 records; a challenger trained on 2,000 (the champion's 150 and
1,850 more) is promoted; then one trained on the 120 most recent records only is not. Every
record is held out for good or trained on by a hash of its id, so the rows a comparison names
were never trained on by either model: the test recomputes them from the ids it published.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from contracts import HOUSE_PRICES, ModelVersion, Topics, TrainModel
from mlbus.bus import publish_all, read_topic
from mlbus.datagen import RecordGenerator
from mlbus.runner import Stack
from services.trainer.holdout import holdout_rows, is_held_out
from tests.support.polling import eventually

pytestmark = pytest.mark.e2e

FIRST, MORE, RECENT = 150, 1850, 120
ENV = {"MLBUS_TRAINER_RETRAIN_EVERY": "1000000", "MLBUS_TRAINER_MIN_RECORDS": "100"}


@dataclass(frozen=True)
class Registered:
    version: ModelVersion
    registered_as: str
    reason: str


@dataclass(frozen=True)
class Runs:
    ids: list[str]  # every record id published, oldest first
    champion: Registered  # v1, on the first 150 records
    better: Registered  # v2, on all 2,000
    worse: Registered  # v3, on the 120 most recent
    champion_after: int  # the champion's version at the end


@pytest.fixture(scope="module")
def stack_env() -> dict[str, str]:
    return ENV


async def publish_records(stack: Stack, records: list[dict[str, Any]], buffered: int) -> None:
    config = stack.config
    topics = Topics.with_prefix(config.topic_prefix)
    key = HOUSE_PRICES.record_id_field
    await publish_all(config.bootstrap_servers, topics.raw, records, key=lambda r: r[key])

    async def buffered_so_far() -> int:
        async with httpx.AsyncClient(base_url=config.url("trainer"), timeout=5) as trainer:
            return int((await trainer.get("/status")).json()["records_buffered"])

    await eventually(
        buffered_so_far,
        what=f"the trainer buffering {buffered} records",
        until=lambda count: count >= buffered,
        timeout=120,
    )


async def train(stack: Stack, command: TrainModel, version: int) -> Registered:
    """Send `command`; version `version` as registered, with the policy's decision."""
    config = stack.config
    topics = Topics.with_prefix(config.topic_prefix)
    await publish_all(config.bootstrap_servers, topics.trainer_commands, [command])
    await read_topic(
        config.bootstrap_servers,
        topics.models,
        until=lambda m: sum(e.get("kind") == "model.registered.v1" for e in m) >= version,
        timeout=180,
    )
    url = f"{config.url('registry')}/models/{HOUSE_PRICES.name}/versions/{version}/details"
    async with httpx.AsyncClient(timeout=10) as registry:
        details = (await registry.get(url)).json()
    return Registered(
        ModelVersion.model_validate(details["version"]),
        details["registered_as"],
        details["decision_reason"],
    )


@pytest.fixture(scope="module")
async def runs(stack: Stack) -> Runs:
    records = list(RecordGenerator(HOUSE_PRICES, seed=21, id_prefix="honest").records(FIRST + MORE))
    ids = [r[HOUSE_PRICES.record_id_field] for r in records]
    await publish_records(stack, records[:FIRST], FIRST)
    champion = await train(stack, TrainModel(reason="champion on 150"), 1)
    await publish_records(stack, records[FIRST:], FIRST + MORE)
    better = await train(stack, TrainModel(reason="challenger on 2000"), 2)
    recent = TrainModel(
        reason="challenger on the 120 most recent", snapshot_mode="recent", snapshot_records=RECENT
    )
    worse = await train(stack, recent, 3)
    url = f"{stack.config.url('registry')}/models/{HOUSE_PRICES.name}/aliases/champion"
    async with httpx.AsyncClient(timeout=10) as registry:
        champion_after = (await registry.get(url)).json()["version"]
    for run in (better, worse):  # the figures, for the record (pytest -s shows them)
        print(f"v{run.version.version} {run.registered_as}: {run.reason}")
    return Runs(ids, champion, better, worse, champion_after)


def trained_on(ids: list[str]) -> set[str]:
    return {i for i in ids if not is_held_out(i, 0.2)}


def test_a_better_challenger_on_more_data_is_promoted_on_unseen_records(runs: Runs) -> None:
    assert runs.champion.registered_as == "champion"
    champion_metrics = runs.champion.version.card.metrics
    assert champion_metrics.train_size == len(trained_on(runs.ids[:FIRST]))

    metrics = runs.better.version.card.metrics
    assert metrics.train_size == len(trained_on(runs.ids))
    comparison = metrics.comparison
    assert comparison is not None
    assert comparison.champion_version == 1
    unseen = [i for i in runs.ids if is_held_out(i, 0.2)]
    assert comparison.rows == holdout_rows(unseen) == metrics.holdout_rows
    assert not set(unseen) & (trained_on(runs.ids[:FIRST]) | trained_on(runs.ids))
    assert comparison.rmse < comparison.champion_rmse
    assert runs.better.registered_as == "champion"
    assert f"on the same {len(unseen)} holdout records" in runs.better.reason
    assert "unseen by both" in runs.better.reason


def test_a_worse_challenger_on_less_data_is_not_promoted(runs: Runs) -> None:
    """Its 120 records are the most recent by ingest time (across partitions, not quite the
    last 120 published): its holdout is those of them held out, which v2 never trained on."""
    metrics = runs.worse.version.card.metrics
    assert metrics.train_size is not None
    assert metrics.train_size + metrics.holdout_size == RECENT
    comparison = metrics.comparison
    assert comparison is not None
    assert comparison.champion_version == 2
    assert comparison.rows == metrics.holdout_rows
    assert comparison.rows.count == metrics.holdout_size > 0
    assert comparison.rmse > comparison.champion_rmse
    assert runs.worse.registered_as == "challenger"
    assert runs.champion_after == 2
    assert "does not beat champion" in runs.worse.reason
    assert "unseen by both" in runs.worse.reason
