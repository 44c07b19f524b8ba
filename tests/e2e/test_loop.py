"""The whole loop on a real broker with the five services as real processes."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import httpx
import pytest

from mlbus.demo import BAD_MESSAGES, DEMO_ENV, DemoPlan, DemoResult, run_demo
from mlbus.runner import Stack

# What brokers do differently: on tansu (test-fast) as well as Apache Kafka (test-kafka).
pytestmark = [pytest.mark.e2e, pytest.mark.both_brokers]


@pytest.fixture(scope="module")
def stack_env() -> dict[str, str]:
    """The demo's settings: the loop below runs once, on the module's stack."""
    return dict(DEMO_ENV)


@pytest.fixture(scope="module")
async def loop_result(stack: Stack) -> DemoResult:
    # Windows of 250: one calm window, then two drifting ones -> one DriftDetected.
    plan = DemoPlan(labelled=800, unlabelled=250, drifted=500, timeout=120)
    return await run_demo(stack.config, plan, say=lambda _: None)


async def test_every_unlabelled_record_gets_exactly_one_prediction(
    loop_result: DemoResult,
) -> None:
    counts = Counter(p["record_id"] for p in loop_result.predictions)
    expected = {f"live-{i:08d}" for i in range(250)} | {f"drift-{i:08d}" for i in range(500)}
    assert set(counts) == expected
    assert max(counts.values()) == 1
    champion = loop_result.model
    assert all(p["model_name"] == champion["model_name"] for p in loop_result.predictions)
    assert all(p["model_version"] >= 1 for p in loop_result.predictions)


async def test_bad_messages_are_dead_lettered_with_reasons(loop_result: DemoResult) -> None:
    originals = {r["original"] for r in loop_result.rejected}
    assert {m.decode() for m in BAD_MESSAGES} <= originals
    for rejected in loop_result.rejected:
        assert rejected["reasons"], rejected
        assert all(reason["rule"] and reason["message"] for reason in rejected["reasons"])
    by_id = {r["record_id"]: r for r in loop_result.rejected if r["record_id"]}
    range_rules = {(x["field"], x["rule"]) for x in by_id["bad-range"]["reasons"]}
    assert {("area", "min"), ("bedrooms", "max")} <= range_rules


async def test_monitor_exports_drift_and_closes_the_loop(
    loop_result: DemoResult,
    stack: Stack,
) -> None:
    assert set(loop_result.psi) == {
        "area",
        "bedrooms",
        "bathrooms",
        "stories",
        "parking",
        "mainroad",
        "guestroom",
        "basement",
        "hotwaterheating",
        "airconditioning",
        "prefarea",
        "furnishingstatus",
    }
    # The drifted records shift area and bedrooms: the monitor must see it.
    assert loop_result.psi["area"] > 0.2
    assert loop_result.drift_events, "drift held for two windows but no DriftDetected"
    metrics = httpx.get(stack.config.url("monitor") + "/metrics").text
    assert "mlbus_monitor_prediction_psi{" in metrics
    ingest = httpx.get(stack.config.url("ingest") + "/metrics").text
    assert 'mlbus_ingest_records_total{dataset="house-prices",outcome="rejected"}' in ingest


async def test_cli_lists_the_champion(loop_result: DemoResult, stack: Stack) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mlbus", "models", "--registry", stack.config.url("registry")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    version = loop_result.model["version"]
    [line] = [line for line in result.stdout.splitlines() if line.startswith("house-prices ")]
    assert f"champion v{version} " in line
