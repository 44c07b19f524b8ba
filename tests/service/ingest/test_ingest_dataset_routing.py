"""The ingest service names each message's data set: the mlbus-dataset header, ?dataset=."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest
from aiokafka import ConsumerRecord
from faststream.kafka import KafkaBroker, TestKafkaBroker

from contracts import DATASET_HEADER, RecordIngested, RecordRejected, Topics
from mlbus.datagen import RecordGenerator
from services.common.settings import KafkaSettings
from services.common.spec_catalogue import SpecCatalogue
from services.ingest.app import create_app
from services.ingest.config import Settings
from services.ingest.handlers import dataset_of
from tests.service.ingest.outputs import Published, collect_outputs
from tests.support.spec_samples import registered, rentals

SETTINGS = Settings(kafka=KafkaSettings(topic_prefix="svc-ds."))
TOPICS: Topics = SETTINGS.kafka.topics


@dataclass
class Ingest:
    broker: KafkaBroker
    client: httpx.AsyncClient
    published: Published
    catalogue: SpecCatalogue


@pytest.fixture
async def ingest() -> AsyncIterator[Ingest]:
    app = create_app(SETTINGS, in_memory=True)
    catalogue: SpecCatalogue = app.state.catalogue
    # What the spec feed does when the registry announces a data set.
    catalogue.learn(registered(rentals()))
    broker: KafkaBroker = app.state.broker
    published = collect_outputs(broker, TOPICS)

    transport = httpx.ASGITransport(app=app)  # no lifespan: TestKafkaBroker drives the broker
    async with (
        TestKafkaBroker(broker) as test_broker,
        httpx.AsyncClient(transport=transport, base_url="http://ingest") as client,
    ):
        yield Ingest(test_broker, client, published, catalogue)


def rental(record_id: str) -> dict[str, Any]:
    return {"record_id": record_id, "area": 60, "rooms": 2, "district": "south", "rent": 800}


def house(record_id: str) -> dict[str, Any]:
    return {**RecordGenerator(seed=5).record(labelled=True), "record_id": record_id}


def rejected_rules(published: Published) -> list[list[str]]:
    events = [RecordRejected.model_validate(body) for body in published.on(TOPICS.rejected)]
    return [[reason.rule for reason in event.reasons] for event in events]


async def test_the_header_names_the_data_set_and_no_header_means_the_default(
    ingest: Ingest,
) -> None:
    await ingest.broker.publish(rental("r-1"), TOPICS.raw, headers={DATASET_HEADER: "rentals"})
    await ingest.broker.publish(house("h-1"), TOPICS.raw)
    events = [RecordIngested.model_validate(body) for body in ingest.published.on(TOPICS.records)]
    assert [(e.record_id, e.dataset) for e in events] == [
        ("r-1", "rentals"),
        ("h-1", "house-prices"),
    ]
    assert ingest.published.on(TOPICS.rejected) == []


async def test_records_of_an_unknown_data_set_are_dead_lettered_for_it(ingest: Ingest) -> None:
    headers = {DATASET_HEADER: "flats"}
    await ingest.broker.publish([rental("r-1"), rental("r-2")], TOPICS.raw, headers=headers)
    assert ingest.published.on(TOPICS.records) == []
    assert rejected_rules(ingest.published) == [["dataset"], ["dataset"]]
    [message] = {body["reasons"][0]["message"] for body in ingest.published.on(TOPICS.rejected)}
    assert message == "unknown data set 'flats'; known: house-prices, rentals"


async def test_post_records_names_its_data_set_in_the_query(ingest: Ingest) -> None:
    answer = await ingest.client.post("/records?dataset=rentals", json=[rental("r-3")])
    assert answer.json() == {"accepted": 1, "rejected": [], "duplicates": []}
    [body] = ingest.published.on(TOPICS.records)
    assert body["dataset"] == "rentals"
    same_id = await ingest.client.post("/records", json=house("r-3"))  # another data set's id
    assert same_id.json()["accepted"] == 1


async def test_post_records_of_an_unknown_data_set_answers_each_rejection(ingest: Ingest) -> None:
    answer = await ingest.client.post("/records?dataset=nope", json=[rental("a"), rental("b")])
    assert answer.status_code == 200  # as for any rejected record: resending will not help
    rejected = answer.json()["rejected"]
    assert [(r["index"], r["record_id"]) for r in rejected] == [(0, None), (1, None)]
    assert {(r["reasons"][0]["field"], r["reasons"][0]["rule"]) for r in rejected} == {
        (None, "dataset")
    }
    assert rejected_rules(ingest.published) == [["dataset"], ["dataset"]]


async def test_metrics_count_records_per_known_data_set(ingest: Ingest) -> None:
    await ingest.client.post("/records?dataset=rentals", json=[rental("r-4"), rental("r-5")])
    await ingest.client.post("/records?dataset=" + "z" * 500, json=rental("r-6"))
    await ingest.client.post("/records", json=house("h-4"))
    text = (await ingest.client.get("/metrics")).text
    assert 'mlbus_ingest_records_total{dataset="rentals",outcome="accepted"} 2.0' in text
    assert 'mlbus_ingest_records_total{dataset="house-prices",outcome="accepted"} 1.0' in text
    assert 'mlbus_ingest_records_total{dataset="unknown",outcome="rejected"} 1.0' in text
    assert "z" * 40 not in text


def test_a_header_that_is_not_utf8_names_no_known_data_set() -> None:
    record: ConsumerRecord[bytes, bytes] = ConsumerRecord(
        topic="raw", partition=0, offset=1, timestamp=0, timestamp_type=0, key=None,
        value=b"{}", checksum=None, serialized_key_size=0, serialized_value_size=2,
        headers=[("trace", b"\xff"), (DATASET_HEADER, b"rent\xffals"), (DATASET_HEADER, b"x")],
    )  # fmt: skip
    assert dataset_of(record) == "rent\ufffdals"  # the first one; no spec name holds U+FFFD
    assert dataset_of(replace(record, headers=[("trace", b"x")])) is None
