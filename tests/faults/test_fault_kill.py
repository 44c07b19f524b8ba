"""Fault 1: kill -9 each service in turn under a steady stream; nothing accepted is lost."""

from __future__ import annotations

import asyncio
import contextlib
import re

import httpx
import pytest
from pydantic import ValidationError

from contracts import PredictionMade, Topics
from mlbus.runner import Stack
from tests.e2e.monitor_support import monitor_caught_up
from tests.faults.fault_helpers import kill_hard, steady_stream
from tests.support.accounting import read_all, wait_until_processed
from tests.support.polling import eventually_sync

pytestmark = pytest.mark.e2e

ORDER = ("ingest", "trainer", "registry", "predictor", "monitor")
_MONITOR_COUNT = re.compile(r"^mlbus_monitor_predictions_total\{[^}]*\} (\S+)$", re.M)


async def test_kill_9_each_service_loses_nothing(trained_stack: Stack) -> None:
    config = trained_stack.config
    versions_before = _versions(config.url("registry"))
    recovering: dict[str, asyncio.Task[float]] = {}
    async with steady_stream(config, "kill", per_second=100) as sent:
        # One kill every 2 s: a service may die while the previous one still recovers.
        for name in ORDER:
            await asyncio.sleep(2.0)
            kill_hard(trained_stack, name)
            trained_stack.start_service(name)
            recovering[name] = asyncio.create_task(
                asyncio.to_thread(trained_stack.wait_service_ready, name, alive=(name,))
            )
        recovered = {name: round(await task, 1) for name, task in recovering.items()}
        await asyncio.sleep(1.0)
    total = sent()

    result, waited = await wait_until_processed(
        config.bootstrap_servers, config.topic_prefix, expected=total, record_prefix="kill-"
    )
    await monitor_caught_up(trained_stack)
    monitor_count = _monitor_count(config.url("monitor"))
    # Every prediction of the stack (earlier faults' too), as the monitor sees them.
    distinct = await _distinct_predictions(config.bootstrap_servers, config.topic_prefix)
    print(f"\nfault 1 (kill -9 each service): sent {total}; kill-to-ready seconds {recovered}")
    print(f"fault 1: all processed {waited:.1f}s after the stream ended; {result.summary()}")
    print(
        f"fault 1: monitor counted {monitor_count:.0f} predictions across its kill -9;"
        f" the results topic holds {distinct} distinct prediction events"
    )
    assert result.accepted_requests == total, result.summary()
    assert result.lost == [], result.summary()
    # Every record sent once is re-published, if at all, under its first event id.
    assert result.unstable_ids == {}, result.summary()
    # The monitor restarted from its checkpoint: each distinct prediction counted once.
    assert monitor_count == distinct
    # The restarted trainer re-reads the same records: it must not upload the same model again.
    rerun = _restarted_trainer_run(config.url("trainer"))
    versions_after = _versions(config.url("registry"))
    print(f"fault 1: versions {versions_before} -> {versions_after}; trainer's rerun: {rerun}")
    assert versions_after == versions_before, rerun
    trained_stack.check_alive()


def test_no_service_logs_the_registry_token(trained_stack: Stack) -> None:
    token = trained_stack.config.registry_token
    logs = sorted(trained_stack.log_dir.glob("*.log"))
    assert {path.stem for path in logs} >= set(ORDER)
    leaked = [path.name for path in logs if token in path.read_text(errors="replace")]
    assert leaked == []


def _monitor_count(url: str) -> float:
    text = httpx.get(url + "/metrics", timeout=5).text
    return sum(float(value) for value in _MONITOR_COUNT.findall(text))


async def _distinct_predictions(bootstrap_servers: str, topic_prefix: str) -> int:
    """Distinct event ids of the valid PredictionMade events on the results topic."""
    topic = Topics.with_prefix(topic_prefix).predict_results
    ids = set()
    for value in (await read_all(bootstrap_servers, [topic]))[topic]:
        with contextlib.suppress(ValidationError):
            ids.add(PredictionMade.model_validate_json(value).event_id)
    return len(ids)


def _versions(registry_url: str) -> list[int]:
    listed = httpx.get(f"{registry_url}/models/house-prices/versions", timeout=5).json()
    return sorted(int(version["version"]) for version in listed)


def _restarted_trainer_run(trainer_url: str, timeout: float = 60.0) -> dict[str, object]:
    """How the restarted trainer's first run (on the records it re-read) ended."""
    result = eventually_sync(
        lambda: httpx.get(trainer_url + "/status", timeout=5).json()["last_result"],
        what="the restarted trainer's first run",
        until=lambda last: last is not None,
        timeout=timeout,
        interval=0.5,
    )
    return dict(result)
