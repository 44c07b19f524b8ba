"""POST /records validates and routes exactly like a Kafka message, with source 'http'."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from faststream.kafka import KafkaBroker, TestKafkaBroker

from contracts import RecordRejected
from mlbus.datagen import RecordGenerator
from services.common.settings import KafkaSettings
from services.ingest.app import create_app
from services.ingest.config import Settings
from tests.service.ingest.outputs import Published, collect_outputs

SETTINGS = Settings(kafka=KafkaSettings(topic_prefix="svc-http."))
TOPICS = SETTINGS.kafka.topics


@dataclass
class Service:
    client: httpx.AsyncClient
    published: Published


def http_client(app: FastAPI) -> httpx.AsyncClient:
    # ASGITransport runs no lifespan: the broker is driven by TestKafkaBroker instead.
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ingest")


@pytest.fixture
async def service() -> AsyncIterator[Service]:
    app = create_app(SETTINGS, in_memory=True)
    broker: KafkaBroker = app.state.broker
    published = collect_outputs(broker, TOPICS)

    async with TestKafkaBroker(broker), http_client(app) as client:
        yield Service(client, published)


def records(count: int, *, labelled: bool = True) -> list[dict[str, Any]]:
    # Distinct ids per kind: a record id seen again would be a duplicate.
    prefix = "lab" if labelled else "unl"
    return list(RecordGenerator(seed=5, id_prefix=prefix).records(count, labelled=labelled))


async def test_one_object(service: Service) -> None:
    [record] = records(1)
    response = await service.client.post("/records", json=record)
    assert response.status_code == 200
    assert response.json() == {"accepted": 1, "rejected": [], "duplicates": []}
    [event] = service.published.on(TOPICS.records)
    assert event["record_id"] == record["record_id"]


async def test_a_list_is_routed_like_a_kafka_array(service: Service) -> None:
    good = records(2) + records(1, labelled=False)
    bad = {**good[0], "record_id": "bad-1", "area": "huge", "pool": True}
    response = await service.client.post("/records", json=[good[0], bad, good[1], good[2], None])
    assert response.status_code == 200
    answer = response.json()
    assert answer["accepted"] == 3
    assert [(r["index"], r["record_id"]) for r in answer["rejected"]] == [(1, "bad-1"), (4, None)]
    assert [(r["field"], r["rule"]) for r in answer["rejected"][0]["reasons"]] == [
        ("area", "type"),
        ("pool", "unknown_field"),
    ]
    assert len(service.published.on(TOPICS.records)) == 2
    assert len(service.published.on(TOPICS.predict_requests)) == 1
    dead = [RecordRejected.model_validate(e) for e in service.published.on(TOPICS.rejected)]
    assert [(e.source, e.partition, e.offset, e.record_id) for e in dead] == [
        ("http", None, None, "bad-1"),
        ("http", None, None, None),
    ]


async def test_malformed_json_is_answered_and_dead_lettered(service: Service) -> None:
    body = b'{"record_id": "m-1", '
    response = await service.client.post(
        "/records", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 200
    answer = response.json()
    assert answer["accepted"] == 0
    [rejected] = answer["rejected"]
    assert (rejected["index"], rejected["record_id"]) == (0, None)
    assert [r["rule"] for r in rejected["reasons"]] == ["json"]
    [event] = service.published.on(TOPICS.rejected)
    assert event["original"] == body.decode()


async def test_metrics_count_http_records(service: Service) -> None:
    await service.client.post("/records", json=[*records(2), *records(1, labelled=False), {}])
    text = (await service.client.get("/metrics")).text
    assert 'mlbus_ingest_records_total{dataset="house-prices",outcome="accepted"} 3.0' in text
    assert 'mlbus_ingest_records_total{dataset="house-prices",outcome="rejected"} 1.0' in text
    assert 'mlbus_ingest_routed_total{destination="training"} 2.0' in text
    assert 'mlbus_ingest_routed_total{destination="prediction"} 1.0' in text


async def test_without_a_broker_the_client_is_told_to_retry() -> None:
    app = create_app(Settings(kafka=KafkaSettings(topic_prefix="svc-http-down.")))
    async with http_client(app) as client:
        response = await client.post("/records", json=records(1))
    assert response.status_code == 503
    assert "retry" in response.json()["detail"]


async def test_a_record_sent_again_is_answered_as_a_duplicate_not_routed(service: Service) -> None:
    [record] = records(1)
    first = (await service.client.post("/records", json=record)).json()
    again = (await service.client.post("/records", json=[record, record])).json()
    assert first["accepted"] == 1
    assert again["accepted"] == 0
    assert [d["record_id"] for d in again["duplicates"]] == [record["record_id"]] * 2
    assert {r["rule"] for d in again["duplicates"] for r in d["reasons"]} == {"duplicate"}
    text = (await service.client.get("/metrics")).text
    assert 'mlbus_ingest_records_total{dataset="house-prices",outcome="duplicate"} 2.0' in text
    assert 'mlbus_ingest_records_total{dataset="house-prices",outcome="accepted"} 1.0' in text


@pytest.mark.parametrize(
    "body", [b'["\\ud800"]', b'{"record_id": "\\udc00"}', b'{"\\ud83d": 1, "area": 1}']
)
async def test_text_that_is_not_unicode_is_answered_as_a_rejection_not_a_retry(
    service: Service, body: bytes
) -> None:
    answer = await service.client.post("/records", content=body)
    assert answer.status_code == 200, answer.text  # never "retry later": it can never succeed
    [rejected] = answer.json()["rejected"]
    assert [reason["rule"] for reason in rejected["reasons"]] == ["unicode"]
    [event] = service.published.on(TOPICS.rejected)
    assert event["reasons"][0]["rule"] == "unicode"
