"""POST /records refuses what it cannot handle as a whole, before publishing any of it:
bodies over the size limit (while they stream), too many records, text that is not Unicode."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import FastAPI
from faststream.kafka import KafkaBroker, TestKafkaBroker

from mlbus.datagen import RecordGenerator
from services.common.settings import KafkaSettings
from services.ingest.app import create_app
from services.ingest.config import Settings
from tests.service.common.asgi_stream import chunks_of, stream_request
from tests.service.ingest.outputs import Published
from tests.service.ingest.test_ingest_http import Service, http_client

MAX_RECORDS = 50
MAX_BODY = 64 * 1024
SETTINGS = Settings(
    kafka=KafkaSettings(topic_prefix="svc-http-bounds."),
    http_max_records=MAX_RECORDS,
    http_max_body_bytes=MAX_BODY,
)
TOPICS = SETTINGS.kafka.topics
JSON = {"content-type": "application/json"}


@pytest.fixture
async def app() -> FastAPI:
    return create_app(SETTINGS, in_memory=True)


@pytest.fixture
async def service(app: FastAPI) -> AsyncIterator[Service]:
    published = Published()
    broker: KafkaBroker = app.state.broker

    @broker.subscriber(TOPICS.records, TOPICS.predict_requests, TOPICS.rejected)
    async def collect(body: dict[str, Any]) -> None:
        published.by_topic.setdefault("any", []).append(body)

    async with TestKafkaBroker(broker), http_client(app) as client:
        yield Service(client, published)


def records(count: int) -> list[dict[str, Any]]:
    return list(RecordGenerator(seed=9, id_prefix="bnd").records(count))


async def test_the_most_records_a_body_may_hold_are_routed(service: Service) -> None:
    response = await service.client.post("/records", json=records(MAX_RECORDS))
    assert response.status_code == 200
    assert response.json()["accepted"] == MAX_RECORDS


@pytest.mark.parametrize("body", [records(MAX_RECORDS + 1), [0] * MAX_RECORDS + [{}]])
async def test_one_record_too_many_refuses_the_body(service: Service, body: list[Any]) -> None:
    response = await service.client.post("/records", json=body)
    assert response.status_code == 413
    assert f"at most {MAX_RECORDS} per request" in response.json()["detail"]
    assert service.published.on("any") == []


async def test_a_body_of_countless_tiny_elements_is_refused_at_once() -> None:
    # The attack of the issue: 200,000 elements in 400 KB made 200,000 dead-letter events.
    settings = Settings(kafka=KafkaSettings(topic_prefix="svc-http-tiny."))
    tiny = b"[" + b",".join([b"0"] * 200_000) + b"]"
    app = create_app(settings, in_memory=True)
    async with TestKafkaBroker(app.state.broker), http_client(app) as client:
        started = time.perf_counter()
        response = await client.post("/records", content=tiny, headers=JSON)
        elapsed = time.perf_counter() - started
    assert response.status_code == 413
    assert "200000 records in one body" in response.json()["detail"]
    print(f"200,000-element body refused in {elapsed * 1000:.0f} ms")


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ('{"record_id": "\\ud800", "area": 1}', "$.record_id"),
        ('{"record_id": "r-1", "\\udc00rea": 1}', "$ (a key)"),
        (
            '[{"record_id": "ok"}, {"record_id": "r-2", "furnishing": "x\\udfff"}]',
            "$[1].furnishing",
        ),
        ('["\\ud800"]', "$[0]"),
    ],
)
async def test_a_lone_surrogate_is_rejected_alone_with_where_it_is(
    service: Service, body: str, where: str
) -> None:
    response = await service.client.post("/records", content=body.encode(), headers=JSON)
    assert response.status_code == 200, response.text  # answered, never "retry later"
    answered = [(r["field"], r["rule"]) for x in response.json()["rejected"] for r in x["reasons"]]
    assert (where, "unicode") in answered
    dead = [r["rule"] for event in service.published.on("any") for r in event.get("reasons", ())]
    assert dead.count("unicode") == 1  # the other record's fate is its own


async def test_a_surrogate_pair_is_valid_text(service: Service) -> None:
    [record] = records(1)
    record["record_id"] = "\U0001f600"  # written below as the escape pair \ud83d\ude00
    body = json.dumps(record).encode()
    assert b"\\ud83d\\ude00" in body
    response = await service.client.post("/records", content=body, headers=JSON)
    assert response.status_code == 200
    assert response.json()["accepted"] == 1


async def test_a_declared_body_over_the_limit_is_refused_unread(app: FastAPI) -> None:
    answer = await stream_request(
        app,
        "POST",
        "/records",
        chunks_of(64 * 1024, 3200),  # 200 MiB, made lazily
        {**JSON, "Content-Length": str(200 * 1024 * 1024)},
    )
    assert answer.status == 413
    assert answer.chunks_read == 0


async def test_a_streamed_body_is_refused_at_its_limit(app: FastAPI) -> None:
    answer = await stream_request(app, "POST", "/records", chunks_of(4096, 51_200), JSON)
    assert answer.status == 413
    assert answer.bytes_read == MAX_BODY + 4096  # the first chunk past the limit
    assert f"limit of {MAX_BODY} bytes" in json.loads(answer.body)["detail"]
