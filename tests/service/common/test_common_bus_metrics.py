"""make_broker's faststream Prometheus middleware: per-service, per-handler message metrics."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from faststream.kafka import TestKafkaBroker
from prometheus_client import CollectorRegistry, generate_latest

from services.common.broker import make_broker
from services.common.settings import KafkaSettings


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, {"broker": "kafka", **labels})


async def test_handled_failed_and_published_messages_are_counted_per_service() -> None:
    registry = CollectorRegistry()
    broker = make_broker(KafkaSettings(), client_id="mlbus-trainer", registry=registry)

    @broker.subscriber("t.in", group_id="g")
    async def handle(body: dict[str, int]) -> None:
        await broker.publish(str(body["n"]).encode(), "t.out")
        if body["n"] < 0:
            raise ValueError("negative")

    async with TestKafkaBroker(broker) as test_broker:
        for n in (1, 2, 3):
            await test_broker.publish({"n": n}, "t.in")
        with pytest.raises(ValueError, match="negative"):
            await test_broker.publish({"n": -1}, "t.in")

    handler = {"app_name": "trainer", "handler": "t.in"}
    assert sample(registry, "mlbus_bus_received_messages_total", **handler) == 4
    processed = "mlbus_bus_received_processed_messages_total"
    statuses = ("acked", "nacked", "rejected", "skipped", "error")
    # The status follows the ack policy (the test broker acks even a failed message).
    assert sum(sample(registry, processed, **handler, status=s) or 0 for s in statuses) == 4
    duration = "mlbus_bus_received_processed_messages_duration_seconds_count"
    assert sample(registry, duration, **handler) == 4
    exceptions = "mlbus_bus_received_processed_messages_exceptions_total"
    assert sample(registry, exceptions, **handler, exception_type="ValueError") == 1
    published = "mlbus_bus_published_messages_total"
    out = {"app_name": "trainer", "destination": "t.out", "status": "success"}
    assert sample(registry, published, **out) == 4


def test_each_app_registry_holds_its_own_metrics_and_promtool_accepts_them() -> None:
    first, second = CollectorRegistry(), CollectorRegistry()
    make_broker(KafkaSettings(), client_id="mlbus-ingest", registry=first)
    make_broker(KafkaSettings(), client_id="mlbus-monitor", registry=second)  # no clash
    text = generate_latest(first).decode()
    assert "# TYPE mlbus_bus_received_processed_messages_duration_seconds histogram" in text
    beside_python = Path(sys.executable).parent / "promtool"
    promtool = str(beside_python) if beside_python.is_file() else shutil.which("promtool")
    if promtool is None:
        pytest.fail("`promtool` is missing: apt-get install prometheus")
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
