"""Fault 2: Apache Kafka restarts mid-stream; every service reconnects on its own."""

from __future__ import annotations

import asyncio
import time

import pytest
from fault_helpers import steady_stream

from mlbus.accounting import wait_until_processed
from mlbus.brokers import ApacheKafkaBroker
from mlbus.runner import Stack

pytestmark = pytest.mark.e2e


async def test_services_reconnect_after_a_broker_restart(
    trained_stack: Stack, kafka_broker: ApacheKafkaBroker
) -> None:
    config = trained_stack.config
    pids = {name: process.pid for name, process in trained_stack.processes.items()}
    async with steady_stream(config, "restart", per_second=100) as sent:
        await asyncio.sleep(2.0)
        before = sent()
        started = time.monotonic()
        await asyncio.to_thread(kafka_broker.restart)
        broker_down = time.monotonic() - started
        await asyncio.sleep(3.0)
    total = sent()
    result, waited = await wait_until_processed(
        config.bootstrap_servers,
        config.topic_prefix,
        expected=total,
        record_prefix="restart",
        timeout=90,
    )
    print(
        f"\nfault 2 (broker restart): sent {total} ({before} before it); broker restart took"
        f" {broker_down:.1f}s; all processed {waited:.1f}s after the stream ended"
    )
    print(f"fault 2: {result.summary()}")
    trained_stack.check_alive()
    assert {name: p.pid for name, p in trained_stack.processes.items()} == pids  # no restarts
    assert result.lost == [], result.summary()
    assert result.accepted_requests >= total, result.summary()
    assert result.unstable_ids == {}, result.summary()
