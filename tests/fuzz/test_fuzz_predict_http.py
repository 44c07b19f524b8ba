"""Hostile bodies into the predictor's POST /predict, with a model serving: every one is
scored (each record predicted or rejected) or refused with a 4xx; no 5xx; healthy after.

In-process behind httpx's ASGI transport, faststream's in-memory broker and an in-memory
registry, as in tests/fuzz/test_fuzz_ingest_http.py.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from faststream.kafka import TestKafkaBroker

from contracts import PredictionMade
from services.common.settings import KafkaSettings
from services.predictor.app import create_app
from services.predictor.config import Settings
from tests.fuzz.adversarial import Hostile, hostile_bodies
from tests.fuzz.conftest import EXAMPLES, SEED, Tally
from tests.unit.predictor.predictor_fixtures import FakeRegistry, model_version, tiny_model_bytes

MAX_RECORDS = 100
JSON = {"content-type": "application/json"}


def predict_request(hostile: Hostile) -> str:
    """Mostly {"record_id": ..., "features": <an almost valid record>}; sometimes anything."""
    r = hostile.random
    if r.random() < 0.1:
        return hostile.value()
    record_id = hostile.string() if r.random() < 0.3 else json.dumps(f"p-{r.randrange(10**9)}")
    return f'{{"record_id": {record_id}, "features": {hostile.record(flat=r.random() < 0.8)}}}'


def _records(body: bytes) -> int:
    decoded = json.loads(body)
    return len(decoded) if isinstance(decoded, list) else 1


async def test_hostile_bodies_are_scored_or_refused_with_a_4xx() -> None:
    settings = Settings(
        kafka=KafkaSettings(topic_prefix="fuzz-predict."),
        poll_seconds=0.02,
        http_max_records=MAX_RECORDS,
    )
    registry = FakeRegistry()
    model = tiny_model_bytes()
    registry.promote(model_version(1, model), model)
    app = create_app(settings, registry_client=registry, in_memory=True)
    tally = Tally()
    transport = httpx.ASGITransport(app=app)
    async with (
        TestKafkaBroker(app.state.broker),
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://predictor") as client,
    ):
        while app.state.model_holder.current is None:
            await asyncio.sleep(0.01)
        for index, body in hostile_bodies(SEED, EXAMPLES, predict_request, MAX_RECORDS):
            response = await client.post("/predict", content=body, headers=JSON)
            status = response.status_code
            tally.statuses[status] += 1
            assert status in (200, 413, 422), (SEED, index, status, response.text[:500])
            if status == 200:
                answer: dict[str, Any] = response.json()
                for prediction in answer["predictions"]:
                    PredictionMade.model_validate(prediction)
                outcomes = len(answer["predictions"]) + len(answer["rejected"])
                assert outcomes == _records(body), (SEED, index)
                tally.processed += outcomes
        health = await client.get("/healthz")
    print(tally.report("predictor POST /predict"))
    assert health.status_code == 200
    assert tally.statuses.total() == EXAMPLES
