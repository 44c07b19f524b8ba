"""Fault 4: a backlog far larger than a batch; predictor and monitor memory stays bounded."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from contracts import HOUSE_PRICES, PredictionRequested, Topics
from mlbus.bus import publish_all
from mlbus.datagen import RecordGenerator
from mlbus.runner import Stack
from tests.support.accounting import wait_until_processed

pytestmark = pytest.mark.e2e

BACKLOG = 30_000
# A consumer that held the whole backlog as Python objects would grow by far more than this.
BOUND_MB = 120.0


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


async def test_a_large_backlog_keeps_memory_bounded(trained_stack: Stack) -> None:
    config = trained_stack.config
    pids = {name: trained_stack.processes[name].pid for name in ("predictor", "monitor")}
    baseline = {name: rss_mb(pid) for name, pid in pids.items()}
    peak = dict(baseline)
    done = asyncio.Event()

    async def sample() -> None:
        while not done.is_set():
            for name, pid in pids.items():
                peak[name] = max(peak[name], rss_mb(pid))
            await asyncio.sleep(0.1)

    sampler = asyncio.create_task(sample())
    started = time.monotonic()
    generator = RecordGenerator(HOUSE_PRICES, seed=41, id_prefix="backlog")
    requests = (
        PredictionRequested(
            record_id=str(record.pop("record_id")), dataset=HOUSE_PRICES.name, features=record
        )
        for record in generator.records(BACKLOG, labelled=False)
    )
    topic = Topics.with_prefix(config.topic_prefix).predict_requests
    await publish_all(config.bootstrap_servers, topic, requests, key=lambda r: r.record_id)
    published = time.monotonic() - started
    result, waited = await wait_until_processed(
        config.bootstrap_servers,
        config.topic_prefix,
        expected=BACKLOG,
        record_prefix="backlog",
        timeout=90,
    )
    done.set()
    await sampler
    growth = {name: round(peak[name] - baseline[name], 1) for name in pids}
    print(
        f"\nfault 4 (backlog of {BACKLOG}): published in {published:.1f}s, processed"
        f" {waited:.1f}s later; RSS baseline {baseline} MB, growth {growth} MB"
    )
    print(f"fault 4: {result.summary()}")
    assert result.lost == [], result.summary()
    assert all(value < BOUND_MB for value in growth.values()), growth
