"""Hostile bodies into ingest's POST /records: every one is processed (each record accepted,
rejected or a duplicate, and counted in the metrics) or refused with a 4xx; no 5xx; healthy
after.

The service runs in-process behind httpx's ASGI transport with faststream's in-memory broker:
the boundary under test is the app's (routing, limits, parsing, validation), and ten thousand
inputs take a minute or two. The body limits on a real server are in tests/e2e.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from faststream.kafka import TestKafkaBroker

from services.common.settings import KafkaSettings
from services.ingest.app import create_app
from services.ingest.config import Settings
from tests.fuzz.adversarial import Hostile, hostile_bodies
from tests.fuzz.conftest import EXAMPLES, SEED, Tally

MAX_RECORDS = 100  # small, so that arrays over it are cheap to make
JSON = {"content-type": "application/json"}


def _elements(body: bytes) -> int:
    try:
        decoded = json.loads(body)
    except (ValueError, RecursionError):
        return 1
    return len(decoded) if isinstance(decoded, list) else 1


def _counted(metrics: str) -> float:
    lines = [line for line in metrics.splitlines() if line.startswith("mlbus_ingest_records_total")]
    return sum(float(line.split()[-1]) for line in lines)


async def test_hostile_bodies_are_processed_or_refused_with_a_4xx() -> None:
    settings = Settings(
        kafka=KafkaSettings(topic_prefix="fuzz-ingest."), http_max_records=MAX_RECORDS
    )
    app = create_app(settings, in_memory=True)
    tally = Tally()
    transport = httpx.ASGITransport(app=app)
    async with (
        TestKafkaBroker(app.state.broker),
        httpx.AsyncClient(transport=transport, base_url="http://ingest") as client,
    ):
        for index, body in hostile_bodies(SEED, EXAMPLES, Hostile.record, MAX_RECORDS):
            response = await client.post("/records", content=body, headers=JSON)
            status = response.status_code
            tally.statuses[status] += 1
            assert status in (200, 413, 422), (SEED, index, status, response.text[:500])
            if status == 200:
                answer: dict[str, Any] = response.json()
                outcomes = answer["accepted"] + len(answer["rejected"]) + len(answer["duplicates"])
                assert outcomes == _elements(body), (SEED, index)
                tally.processed += outcomes
        health = await client.get("/healthz")
        metrics = (await client.get("/metrics")).text
    print(tally.report("ingest POST /records"))
    assert health.status_code == 200
    assert _counted(metrics) == tally.processed  # every record of a 200 counted once
    assert tally.statuses.total() == EXAMPLES
