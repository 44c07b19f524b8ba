"""A real monitor process killed with -9, then stopped gracefully: each time it comes back with
exactly the counts it had and counts on from there, each distinct prediction once."""

from __future__ import annotations

import asyncio
import os
import re
import signal
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import pytest

from contracts import PredictionMade, RecordIngested, Topics
from mlbus.brokers import Broker
from mlbus.bus import ensure_topics, publish_all
from mlbus.runner import Stack, StackConfig
from tests.e2e.monitor_support import (
    made_predictions,
    model_version,
    monitor_caught_up,
    stand_in_registry,
)

pytestmark = pytest.mark.e2e

WINDOW = 100
MONITOR_ENV = {
    "MLBUS_MONITOR_WINDOW_SIZE": str(WINDOW),
    "MLBUS_MONITOR_MIN_WINDOW": "50",
    "MLBUS_MONITOR_ERROR_WINDOW": "10",
    "MLBUS_MONITOR_REFERENCE_RETRY_SECONDS": "1",
    "MLBUS_MONITOR_BATCH_MAX_RECORDS": "50",
    "MLBUS_MONITOR_CHECKPOINT_SECONDS": "0.2",
}
SAMPLE = re.compile(r"^(mlbus_monitor_\w+_total)(\{[^}]*\})? (\S+)$", re.M)


@pytest.fixture
def monitor_stack(broker: Broker, tmp_path: Path, topic_prefix: str) -> Iterator[Stack]:
    """The monitor alone, on its own topics, with a stand-in registry serving version 1."""
    with stand_in_registry({1: model_version(1)}) as registry_url:
        config = StackConfig.with_free_ports(
            broker.bootstrap_servers,
            tmp_path,
            topic_prefix=topic_prefix,
            extra_env={**MONITOR_ENV, "MLBUS_MONITOR_REGISTRY_URL": registry_url},
        )
        asyncio.run(ensure_topics(broker.bootstrap_servers, Topics.with_prefix(topic_prefix).all()))
        stack = Stack(config)
        stack.log_dir.mkdir(parents=True, exist_ok=True)
        stack.start_service("monitor")
        try:
            yield stack
        finally:
            stack.stop()


def _labels(events: list[PredictionMade]) -> list[RecordIngested]:
    return [
        RecordIngested(
            record_id=e.record_id, dataset="house-prices", features={}, target=e.prediction + 1.0
        )
        for e in events
    ]


def _counts(stack: Stack) -> dict[str, float]:
    """The monitor's counters (checkpoint bookkeeping aside), summed over their labels but
    the join outcome."""
    text = httpx.get(stack.config.url("monitor") + "/metrics", timeout=5).text
    counts: dict[str, float] = {}
    for name, labels, value in SAMPLE.findall(text):
        if "checkpoints" in name:
            continue
        key = f"{name}{labels}" if name == "mlbus_monitor_labels_total" else name
        counts[key] = counts.get(key, 0.0) + float(value)
    return counts


async def _publish(stack: Stack, topic: str, events: Sequence[PredictionMade | bytes]) -> None:
    await publish_all(
        stack.config.bootstrap_servers,
        topic,
        events,
        key=lambda e: e.record_id if isinstance(e, PredictionMade) else None,
    )


async def test_a_restarted_monitor_continues_its_counts_exactly(monitor_stack: Stack) -> None:
    stack = monitor_stack
    topics = Topics.with_prefix(stack.config.topic_prefix)
    events = made_predictions(600, seed=3, id_prefix="ckpt")
    stack.wait_service_ready("monitor")
    first_batch: list[PredictionMade | bytes] = [*events[:250], b"{not json"]
    await _publish(stack, topics.predict_results, first_batch)
    await publish_all(stack.config.bootstrap_servers, topics.records, _labels(events[:40]))
    await monitor_caught_up(stack)
    joined = 'mlbus_monitor_labels_total{outcome="joined"}'
    first = _counts(stack)
    assert first["mlbus_monitor_predictions_total"] == 250
    assert first["mlbus_monitor_invalid_messages_total"] == 1
    assert first[joined] == 40
    assert first["mlbus_monitor_windows_total"] == 2

    # kill -9 while the next predictions are being counted.
    publishing = asyncio.create_task(_publish(stack, topics.predict_results, events[250:400]))
    while _counts(stack)["mlbus_monitor_predictions_total"] <= 250 and not publishing.done():
        await asyncio.sleep(0.02)
    process = stack.processes.pop("monitor")
    os.kill(process.pid, signal.SIGKILL)
    process.wait(10)
    await publishing
    stack.start_service("monitor")
    stack.wait_service_ready("monitor")
    # The predictor redelivers 100 results (same event ids); then new ones.
    await _publish(stack, topics.predict_results, events[100:200] + events[400:])
    await monitor_caught_up(stack)
    second = _counts(stack)
    assert second["mlbus_monitor_predictions_total"] == 600
    assert second["mlbus_monitor_invalid_messages_total"] == 1
    assert second[joined] == 40
    # The open window's bin counts came through the restart: 600 predictions, 6 windows.
    assert second["mlbus_monitor_windows_total"] == 6

    # A graceful stop writes a last checkpoint: nothing is counted again after it.
    stack.stop_service("monitor")
    stack.start_service("monitor")
    stack.wait_service_ready("monitor")
    await monitor_caught_up(stack)
    assert _counts(stack) == second
