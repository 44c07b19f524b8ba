"""Fault 2: Apache Kafka restarts mid-stream, once or twice; every service reconnects on its own."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from contracts import Topics
from mlbus.brokers import ApacheKafkaBroker
from mlbus.bus import read_topic
from mlbus.runner import Stack
from tests.faults.fault_helpers import monitor_predictions, steady_stream
from tests.support.accounting import wait_until_processed

pytestmark = pytest.mark.e2e

# Seconds from the broker serving again until records sent after it are predicted.
RECOVERY_BOUND = 15.0
# The stream runs this long before the first restart, after each recovery and before the end.
STEADY_SECONDS = 2.0


@pytest.mark.parametrize("restarts", [1, 2], ids=["once", "twice"])
async def test_services_reconnect_after_broker_restarts(
    trained_stack: Stack, kafka_broker: ApacheKafkaBroker, restarts: int
) -> None:
    config = trained_stack.config
    prefix = f"restart{restarts}-"
    pids = {name: process.pid for name, process in trained_stack.processes.items()}
    monitored_before = monitor_predictions(trained_stack)
    timings: list[tuple[float, float]] = []  # (broker down, recovered after) per restart
    async with steady_stream(config, prefix.rstrip("-"), per_second=100) as sent:
        for _ in range(restarts):
            await asyncio.sleep(STEADY_SECONDS)
            started = time.monotonic()
            await asyncio.to_thread(kafka_broker.restart)
            down = time.monotonic() - started
            timings.append((down, await _recovery_seconds(trained_stack, sent, prefix)))
        await asyncio.sleep(STEADY_SECONDS)
    total = sent()
    result, waited = await wait_until_processed(
        config.bootstrap_servers, config.topic_prefix, expected=total, record_prefix=prefix
    )
    monitored = await _monitor_count_since(trained_stack, monitored_before, at_least=total)
    each = "; ".join(
        f"restart {n}: broker down {down:.1f}s, recovered {up:.1f}s after"
        for n, (down, up) in enumerate(timings, 1)
    )
    print(
        f"\nfault 2 (broker restarted {restarts}x): sent {total}, lost {len(result.lost)},"
        f" duplicated {result.total_duplicated}; {each}; all processed {waited:.1f}s after the end"
    )
    print(f"fault 2: {result.summary()}")
    print(f"fault 2: the monitor counted {monitored:.0f} predictions meanwhile")
    trained_stack.check_alive()
    assert {name: p.pid for name, p in trained_stack.processes.items()} == pids  # no restarts
    assert result.lost == [], result.summary()
    assert result.accepted_requests >= total, result.summary()
    # A duplicate repeats its first event id, so consumers can drop it.
    assert result.unstable_ids == {}, result.summary()
    # All records are valid: ingest dead-letters exactly the stream's re-sends, as duplicates.
    assert result.dead_lettered == result.duplicated.get("raw", 0), result.summary()
    # The monitor's consumer rejoined too (a downstream consumer the accounting does not see).
    assert monitored >= total, trained_stack.log_tail("monitor", 15)


async def _recovery_seconds(stack: Stack, sent: Callable[[], int], prefix: str) -> float:
    """Seconds from now (the broker is back) until records sent after now have predictions."""
    back = time.monotonic()
    before = sent()
    while sent() == before:  # the stream's producer has not reconnected yet
        if time.monotonic() - back > RECOVERY_BOUND:
            raise AssertionError(f"no record acknowledged {RECOVERY_BOUND}s after the restart")
        await asyncio.sleep(0.05)
    # Every record sent so far, the first ones sent after the restart included.
    missing = {f"{prefix}{n:08d}" for n in range(sent())}
    results = Topics.with_prefix(stack.config.topic_prefix).predict_results
    # The stream never pauses, so read until the predictions are there, not until idle.
    await read_topic(
        stack.config.bootstrap_servers,
        results,
        until=_predicted(missing),
        timeout=RECOVERY_BOUND - (time.monotonic() - back),
    )
    if missing:
        logs = "\n".join(f"--- {n}:\n{stack.log_tail(n, 15)}" for n in ("ingest", "predictor"))
        raise AssertionError(
            f"{len(missing)} records without a prediction {RECOVERY_BOUND}s after the restart,"
            f" e.g. {sorted(missing)[:5]}\n{logs}"
        )
    return time.monotonic() - back


def _predicted(missing: set[str]) -> Callable[[list[dict[str, Any]]], bool]:
    """A read_topic stop condition that removes each predicted record id from `missing`."""
    seen = 0

    def until(predictions: list[dict[str, Any]]) -> bool:
        nonlocal seen
        for prediction in predictions[seen:]:
            missing.discard(prediction.get("record_id"))
        seen = len(predictions)
        return not missing

    return until


async def _monitor_count_since(stack: Stack, before: float, *, at_least: int) -> float:
    """Predictions the monitor counted since `before`, once `at_least` or after 15 s."""
    deadline = time.monotonic() + 15
    while True:
        counted = await asyncio.to_thread(monitor_predictions, stack) - before
        if counted >= at_least or time.monotonic() > deadline:
            return counted
        await asyncio.sleep(0.5)
