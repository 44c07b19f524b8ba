"""Issue 18 end to end: drift the old monitor could not see ends in DriftDetected and a retrain.

All five services as real processes on a real broker, with the house-price spec where
`parking` may be null. First every 3-bathroom house becomes a 4-bathroom one (an integer
feature whose quantile bins hid the move); then `parking` stops arriving. Each raises
DriftDetected naming that feature first, and the trainer answers each with a new version.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from contracts import HOUSE_PRICES, DatasetSpec, Topics
from mlbus.bus import publish_all, read_topic
from mlbus.datagen import RecordGenerator
from mlbus.demo import wait_for_champion
from mlbus.runner import Stack, StackConfig
from services.common.specfile import dump_spec
from tests.e2e.loop_support import until_buffered
from tests.support.polling import eventually

pytestmark = pytest.mark.e2e

ENV = {
    # One count-based run for the first champion; after that only drift makes runs.
    "MLBUS_TRAINER_RETRAIN_EVERY": "600",
    "MLBUS_TRAINER_MIN_RECORDS": "200",
    "MLBUS_TRAINER_DRIFT_RECORDS": "400",
    "MLBUS_MONITOR_WINDOW_SIZE": "250",
    "MLBUS_MONITOR_MIN_WINDOW": "100",
    "MLBUS_MONITOR_DRIFT_WINDOWS": "2",
    "MLBUS_MONITOR_COOLDOWN_SECONDS": "1",
}
TIMEOUT = 120.0


def _spec() -> DatasetSpec:
    features = tuple(
        f.model_copy(update={"nullable": True}) if f.name == "parking" else f
        for f in HOUSE_PRICES.features
    )
    return HOUSE_PRICES.model_copy(update={"features": features})


def _key(record: dict[str, Any]) -> str | None:
    value = record.get(HOUSE_PRICES.record_id_field)
    return None if value is None else str(value)


def _records(
    count: int, seed: int, prefix: str, *, labelled: bool, change: Any
) -> list[dict[str, Any]]:
    generator = RecordGenerator(_spec(), seed=seed, id_prefix=prefix)
    return [change(r) for r in generator.records(count, labelled=labelled)]


def _three_to_four(record: dict[str, Any]) -> dict[str, Any]:
    if record["bathrooms"] == 3:
        record["bathrooms"] = 4
    return record


def _without_parking(record: dict[str, Any]) -> dict[str, Any]:
    record["parking"] = None
    return record


def _moved_without_parking(record: dict[str, Any]) -> dict[str, Any]:
    return _without_parking(_three_to_four(record))


@pytest.fixture(scope="module")
def stack_env() -> dict[str, str]:
    return ENV


@pytest.fixture(scope="module")
def stack_config(stack_config: StackConfig) -> StackConfig:
    """The e2e stack's settings, with the spec where `parking` may be null."""
    stack_config.spec_path = stack_config.workdir / "spec.yaml"
    stack_config.spec_path.write_text(dump_spec(_spec()))
    return stack_config


async def _version(registry: str, version: int) -> dict[str, Any] | None:
    async with httpx.AsyncClient(base_url=registry, timeout=5) as client:
        response = await client.get(f"/models/house-prices/versions/{version}")
    return dict(response.json()) if response.status_code == 200 else None


async def _until_version(stack: Stack, version: int) -> dict[str, Any]:
    async def registered() -> dict[str, Any] | None:
        stack.check_alive()
        return await _version(stack.config.url("registry"), version)

    found = await eventually(
        registered,
        what=f"version {version}",
        timeout=TIMEOUT,
        interval=0.5,
        context=lambda: "\n".join(
            f"--- {n}\n{stack.log_tail(n, 15)}" for n in ("trainer", "monitor")
        ),
    )
    assert found is not None
    return found


async def _drift_events(stack: Stack, count: int) -> list[dict[str, Any]]:
    topics = Topics.with_prefix(stack.config.topic_prefix)
    return await read_topic(
        stack.config.bootstrap_servers,
        topics.drift,
        timeout=TIMEOUT,
        until=lambda events: len(events) >= count,
    )


async def test_an_integer_move_and_a_missing_feature_each_end_in_a_retrain(stack: Stack) -> None:
    config = stack.config
    topics = Topics.with_prefix(config.topic_prefix)
    bootstrap, registry = config.bootstrap_servers, config.url("registry")

    calm = _records(600, 31, "calm", labelled=True, change=lambda r: r)
    await publish_all(bootstrap, topics.raw, calm, key=_key)
    first = await wait_for_champion(registry, "house-prices", TIMEOUT)
    reference = first["card"]["reference"]
    assert reference["features"]["bathrooms"]["binning"] == "discrete"
    assert reference["size"] < first["card"]["snapshot_size"]  # training rows only

    # Every 3-bathroom house now has 4: labels to retrain on, then live traffic.
    moved = _records(400, 32, "moved-l", labelled=True, change=_three_to_four)
    await publish_all(bootstrap, topics.raw, moved, key=_key)
    await until_buffered(stack, 1000, TIMEOUT)
    live = _records(500, 33, "moved-u", labelled=False, change=_three_to_four)
    await publish_all(bootstrap, topics.raw, live, key=_key)
    [integer_drift] = await _drift_events(stack, 1)
    assert integer_drift["features"][0]["feature"] == "bathrooms"
    await _until_version(stack, 2)

    # Then `parking` stops arriving too, in labels and in live traffic.
    gone = _records(400, 34, "gone-l", labelled=True, change=_moved_without_parking)
    await publish_all(bootstrap, topics.raw, gone, key=_key)
    await until_buffered(stack, 1400, TIMEOUT)
    live = _records(500, 35, "gone-u", labelled=False, change=_moved_without_parking)
    await publish_all(bootstrap, topics.raw, live, key=_key)
    events = await _drift_events(stack, 2)
    missing_drift = events[-1]
    assert missing_drift["features"][0]["feature"] == "parking", missing_drift
    await _until_version(stack, 3)
