"""Helpers of the fault suite: a trained stack, a steady stream of records, kill -9."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx

from contracts import HOUSE_PRICES, Topics
from mlbus.bus import publish_all
from mlbus.datagen import RecordGenerator
from mlbus.demo import DEMO_ENV, wait_for_champion
from mlbus.runner import Stack, StackConfig
from tests.support.accounting import Accounting, read_all, wait_until_processed

RECORD_KEY: Callable[[Any], str | None] = lambda r: r.get(HOUSE_PRICES.record_id_field)  # noqa: E731
# The predictor polls the registry quickly while it has no model, so a fault heals fast.
FAULT_ENV = {**DEMO_ENV, "MLBUS_PREDICTOR_POLL_SECONDS": "0.5"}
_MONITOR_COUNT = re.compile(r"^mlbus_monitor_predictions_total\{[^}]*\} (\S+)$", re.M)


def start_trained_stack(
    bootstrap_servers: str,
    config_dir: Any,
    *,
    extra_env: dict[str, str] | None = None,
    replication_factor: int = 1,
) -> Stack:
    """A stack on fresh topics whose champion is trained and served; caller stops it."""
    config = StackConfig.with_free_ports(
        bootstrap_servers,
        config_dir,
        topic_prefix=f"f{uuid.uuid4().hex[:10]}.",
        extra_env={**FAULT_ENV, **(extra_env or {})},
        replication_factor=replication_factor,
    )
    stack = Stack(config).start()
    try:
        stack.wait_ready(timeout=180)  # five imports at once on a loaded machine
        labelled = RecordGenerator(HOUSE_PRICES, seed=7, id_prefix="train")
        asyncio.run(_publish(config, labelled.records(800)))
        asyncio.run(wait_for_champion(config.url("registry"), HOUSE_PRICES.name, 120))
        stack.wait_service_ready("predictor")
    except BaseException:
        stack.stop()
        raise
    return stack


async def _publish(config: StackConfig, records: Any) -> None:
    raw = Topics.with_prefix(config.topic_prefix).raw
    await publish_all(config.bootstrap_servers, raw, records, key=RECORD_KEY)


def monitor_predictions(stack: Stack) -> float:
    """Predictions the monitor has counted since it started, over every model version."""
    text = httpx.get(stack.config.url("monitor") + "/metrics", timeout=5).text
    return sum(float(value) for value in _MONITOR_COUNT.findall(text))


def kill_hard(stack: Stack, name: str) -> None:
    """kill -9 one service: no shutdown hook, no final commit."""
    process = stack.processes.pop(name)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(10)


SEND_ATTEMPT_SECONDS = 3.0


@asynccontextmanager
async def steady_stream(
    config: StackConfig, id_prefix: str, *, per_second: int = 100, seed: int = 21
) -> AsyncIterator[Callable[[], int]]:
    """Publish unlabelled records at a steady rate in the background; yields a sent() counter.

    Each record is acknowledged by the broker before it counts as sent; a send that fails
    (the broker is restarting) is retried with the same record, so nothing is skipped. Each
    try is bounded: an aiokafka client that started against a restarting broker can be left
    with an empty broker list ("Unable to update metadata from []", aio-libs/aiokafka#267)
    and would wait out its whole request timeout; a fresh client is made instead.
    """
    generator = RecordGenerator(HOUSE_PRICES, seed=seed, id_prefix=id_prefix)
    sent = 0
    stop = asyncio.Event()

    async def run() -> None:
        nonlocal sent
        batch = max(1, per_second // 10)
        pending = list(generator.records(batch, labelled=False))
        while not stop.is_set():
            try:
                await asyncio.wait_for(_publish(config, pending), SEND_ATTEMPT_SECONDS)
            except Exception:
                await asyncio.sleep(0.5)
                continue
            sent += len(pending)
            pending = list(generator.records(batch, labelled=False))
            await asyncio.sleep(0.1)

    task = asyncio.create_task(run())
    try:
        yield lambda: sent
    finally:
        stop.set()
        await task


async def stream_and_account(stack: Stack, prefix: str, count: int, seed: int) -> Accounting:
    """Publish `count` unlabelled records with ids starting with `prefix`; account for them."""
    config = stack.config
    records = RecordGenerator(HOUSE_PRICES, seed=seed, id_prefix=prefix.rstrip("-"))
    raw = Topics.with_prefix(config.topic_prefix).raw
    await publish_all(
        config.bootstrap_servers, raw, records.records(count, labelled=False), key=RECORD_KEY
    )
    result, waited = await wait_until_processed(
        config.bootstrap_servers, config.topic_prefix, expected=count, record_prefix=prefix
    )
    print(f"fault [{prefix}]: sent {count}, processed in {waited:.1f}s; {result.summary()}")
    return result


async def predicted_versions(stack: Stack, prefix: str) -> set[int]:
    """The model versions that made the predictions of records whose ids start with `prefix`."""
    topic = Topics.with_prefix(stack.config.topic_prefix).predict_results
    messages = (await read_all(stack.config.bootstrap_servers, [topic]))[topic]
    events = [json.loads(m) for m in messages]
    return {
        e["model_version"]
        for e in events
        if isinstance(e, dict) and str(e.get("record_id", "")).startswith(prefix)
    }
