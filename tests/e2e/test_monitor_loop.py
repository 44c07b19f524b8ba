"""Drift closes the loop, no manual step: shift -> DriftDetected -> retrain on recent data ->
new version promoted -> the predictor serves it. All five services as real processes."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import pytest

from contracts import HOUSE_PRICES, Topics
from mlbus.bus import publish_all, read_topic
from mlbus.datagen import RecordGenerator
from mlbus.demo import wait_for_champion
from mlbus.runner import Stack
from tests.support.polling import eventually

pytestmark = pytest.mark.e2e

SHIFT = {"area": 0.5}
LOOP_ENV = {
    # One count-based run for the first champion; after that only drift makes runs.
    "MLBUS_TRAINER_RETRAIN_EVERY": "600",
    "MLBUS_TRAINER_MIN_RECORDS": "200",
    "MLBUS_TRAINER_DRIFT_RECORDS": "400",
    "MLBUS_MONITOR_WINDOW_SIZE": "250",
    "MLBUS_MONITOR_MIN_WINDOW": "100",
    "MLBUS_MONITOR_DRIFT_WINDOWS": "2",
}
TIMEOUT = 120.0
T = TypeVar("T")


def _key(record: dict[str, Any]) -> str | None:
    value = record.get(HOUSE_PRICES.record_id_field)
    return None if value is None else str(value)


@pytest.fixture(scope="module")
def stack_env() -> dict[str, str]:
    return LOOP_ENV


async def _metric(url: str, pattern: str) -> float | None:
    async with httpx.AsyncClient(timeout=5) as client:
        text = (await client.get(f"{url}/metrics")).text
    found = re.search(pattern + r" (\S+)$", text, re.M)
    return float(found.group(1)) if found else None


async def _until(check: Callable[[], Awaitable[T]], what: str, stack: Stack) -> T:
    async def alive_and_checked() -> T:
        stack.check_alive()
        return await check()

    return await eventually(
        alive_and_checked,
        what=what,
        timeout=TIMEOUT,
        interval=0.5,
        context=lambda: "\n".join(
            f"--- {n}\n{stack.log_tail(n, 15)}" for n in ("trainer", "registry", "monitor")
        ),
    )


async def test_a_shift_retrains_promotes_and_serves_a_new_version(stack: Stack) -> None:
    config = stack.config
    topics = Topics.with_prefix(config.topic_prefix)
    bootstrap = config.bootstrap_servers
    registry, predictor = config.url("registry"), config.url("predictor")

    calm = RecordGenerator(seed=21, id_prefix="calm").records(600)
    await publish_all(bootstrap, topics.raw, calm, key=_key)
    first = await wait_for_champion(registry, "house-prices", TIMEOUT)
    assert first["version"] == 1

    # The world moves: new labelled records (what a drift run trains on), then live traffic.
    shifted = RecordGenerator(seed=22, id_prefix="shift-l", drift=SHIFT).records(400)
    await publish_all(bootstrap, topics.raw, shifted, key=_key)

    async def buffered() -> bool:
        value = await _metric(
            config.url("trainer"), r'^mlbus_trainer_records_buffered\{model="house-prices"\}'
        )
        return value is not None and value >= 1000

    await _until(buffered, "the trainer to buffer the shifted labels", stack)
    live = RecordGenerator(seed=23, id_prefix="shift-u", drift=SHIFT)
    await publish_all(bootstrap, topics.raw, live.records(500, labelled=False), key=_key)

    drift = await read_topic(bootstrap, topics.drift, timeout=TIMEOUT, until=bool)
    assert drift, "no DriftDetected"
    assert drift[0]["model_version"] == 1
    assert drift[0]["features"][0]["feature"] == "area"

    async def promoted() -> dict[str, Any] | None:
        champion = await wait_for_champion(registry, "house-prices", TIMEOUT)
        return champion if champion["version"] >= 2 else None

    second = await _until(promoted, "a new champion after the drift", stack)
    assert second is not None
    metrics = second["card"]["metrics"]
    assert metrics["champion_version"] == 1
    assert metrics["rmse"] < metrics["champion_rmse"]

    new_version: int = second["version"]

    async def serving() -> bool:
        value = await _metric(predictor, r'^mlbus_predictor_model_version\{model="house-prices"\}')
        return value == new_version

    await _until(serving, "the predictor to serve the new version", stack)
    more = RecordGenerator(seed=24, id_prefix="after", drift=SHIFT).records(20, labelled=False)
    await publish_all(bootstrap, topics.raw, more, key=_key)
    predictions = await read_topic(
        bootstrap,
        topics.predict_results,
        timeout=TIMEOUT,
        until=lambda m: any(p["record_id"].startswith("after") for p in m),
    )
    after = [p for p in predictions if p["record_id"].startswith("after")]
    assert after
    assert all(p["model_version"] == second["version"] for p in after)
