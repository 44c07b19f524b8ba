"""POST /records with a classification spec (iris, drafted by `mlbus spec infer`): class names
to training, unlabelled rows to prediction, an unknown class answered and dead-lettered."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage

from mlbus.datafiles import read_rows
from mlbus.spec_inference import draft_spec
from services.common.settings import KafkaSettings
from services.common.specfile import dump_spec
from services.ingest.app import create_app
from services.ingest.config import Settings
from tests.support.class_datasets import iris_csv

PREFIX = "svc-http-classes."


@pytest.fixture
async def published(
    tmp_path: Path,
) -> AsyncIterator[tuple[httpx.AsyncClient, list[dict[str, Any]], list[dict[str, Any]]]]:
    """A client of ingest with iris's drafted spec file, and what it publishes by topic."""
    csv_path = iris_csv(tmp_path / "iris.csv", unlabelled_every=10)
    spec_path = tmp_path / "iris.yaml"
    spec_path.write_text(dump_spec(draft_spec(csv_path, target="species").spec))
    settings = Settings(kafka=KafkaSettings(topic_prefix=PREFIX), spec=str(spec_path))
    app = create_app(settings, in_memory=True)
    broker: KafkaBroker = app.state.broker
    topics = settings.kafka.topics
    events: list[dict[str, Any]] = []
    rows = list(read_rows(csv_path))

    @broker.subscriber(topics.records, topics.predict_requests, topics.rejected)
    async def collect(body: dict[str, Any], message: KafkaMessage) -> None:
        record = message.raw_message
        assert not isinstance(record, tuple)
        events.append({"topic": record.topic.removeprefix(PREFIX), **body})

    transport = httpx.ASGITransport(app=app)
    async with (
        TestKafkaBroker(broker),
        httpx.AsyncClient(transport=transport, base_url="http://ingest") as client,
    ):
        yield client, rows, events


async def test_iris_rows_are_routed_by_their_labels(
    published: tuple[httpx.AsyncClient, list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    client, rows, events = published
    rows = [*rows[:20], {**rows[20], "species": " Virginica "}, {**rows[21], "species": "rose"}]
    answer = (await client.post("/records", json=rows)).json()
    assert answer["accepted"] == 21
    [rejected] = answer["rejected"]
    assert rejected["index"] == 21
    assert [(r["field"], r["rule"]) for r in rejected["reasons"]] == [("species", "class")]
    by_topic = {t: [e for e in events if e["topic"] == t] for t in {e["topic"] for e in events}}
    training = by_topic["ingest.records.v1"]
    assert [e["target"] for e in training] == ["setosa"] * 18 + ["virginica"]
    assert [e["record_id"] for e in by_topic["predict.requests.v1"]] == ["iris-9", "iris-19"]
    [dead] = by_topic["ingest.rejected.v1"]
    assert "unknown class 'rose'" in dead["reasons"][0]["message"]
