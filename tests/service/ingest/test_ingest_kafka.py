"""The ingest service on faststream's in-memory Kafka broker: raw messages in, three topics out."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.message import KafkaMessage as KafkaStreamMessage
from faststream.kafka.parser import AioKafkaParser

from contracts import PredictionRequested, RecordIngested, RecordRejected, Topics
from mlbus.datagen import RecordGenerator
from services.common.rebalance import CommitOnRebalance
from services.common.settings import KafkaSettings
from services.ingest.app import create_app
from services.ingest.config import Settings
from services.ingest.handlers import tolerant_parser


@dataclass
class Seen:
    """What the ingest service published, per topic: (key, decoded JSON body)."""

    by_topic: dict[str, list[tuple[bytes, dict[str, Any]]]] = field(default_factory=dict)

    def on(self, topic: str) -> list[tuple[bytes, dict[str, Any]]]:
        return self.by_topic.get(topic, [])


@dataclass
class Harness:
    broker: KafkaBroker
    topics: Topics
    seen: Seen


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    settings = Settings(kafka=KafkaSettings(topic_prefix="svc-kafka."))
    topics = settings.kafka.topics
    broker: KafkaBroker = create_app(settings, in_memory=True).state.broker
    seen = Seen()

    @broker.subscriber(topics.records, topics.predict_requests, topics.rejected)
    async def collect(body: dict[str, Any], message: KafkaMessage) -> None:
        record = message.raw_message
        assert not isinstance(record, tuple)
        seen.by_topic.setdefault(record.topic, []).append((record.key, body))

    async with TestKafkaBroker(broker) as test_broker:
        yield Harness(test_broker, topics, seen)


def house(record_id: str, *, labelled: bool = True) -> dict[str, Any]:
    record = RecordGenerator(seed=3).record(labelled=labelled)
    record["record_id"] = record_id
    return record


async def test_labelled_records_are_published_for_training(harness: Harness) -> None:
    record = {**house("h-1"), "mainroad": " YES ", "furnishingstatus": "Semi Furnished"}
    await harness.broker.publish(record, harness.topics.raw)
    [(key, body)] = harness.seen.on(harness.topics.records)
    event = RecordIngested.model_validate(body)
    assert key == b"h-1"
    assert event.record_id == "h-1"
    assert event.target == record["price"]
    assert event.features["mainroad"] == "yes"
    assert event.features["furnishingstatus"] == "semi-furnished"
    assert harness.seen.on(harness.topics.predict_requests) == []
    assert harness.seen.on(harness.topics.rejected) == []


async def test_unlabelled_records_are_published_as_prediction_requests(harness: Harness) -> None:
    await harness.broker.publish(house("h-2", labelled=False), harness.topics.raw)
    [(key, body)] = harness.seen.on(harness.topics.predict_requests)
    event = PredictionRequested.model_validate(body)
    assert (key, event.record_id) == (b"h-2", "h-2")
    assert set(event.features) == {
        "area", "bedrooms", "bathrooms", "stories", "parking", "mainroad", "guestroom",
        "basement", "hotwaterheating", "airconditioning", "prefarea", "furnishingstatus",
    }  # fmt: skip
    assert harness.seen.on(harness.topics.records) == []


async def test_invalid_records_are_dead_lettered_with_every_reason(harness: Harness) -> None:
    record = {**house("h-3"), "bedrooms": 3.5, "prefarea": "perhaps", "colour": "red"}
    await harness.broker.publish(record, harness.topics.raw, partition=1)
    [(key, body)] = harness.seen.on(harness.topics.rejected)
    event = RecordRejected.model_validate(body)
    assert key == b"h-3"
    assert event.record_id == "h-3"
    assert (event.source, event.partition, event.offset) == (harness.topics.raw, 1, 0)
    assert json.loads(event.original) == record
    assert [(r.field, r.rule) for r in event.reasons] == [
        ("bedrooms", "type"),
        ("prefarea", "category"),
        ("colour", "unknown_field"),
    ]


@pytest.mark.parametrize(
    ("raw", "headers"),
    [
        (b'{"record_id": "x", "area": ', None),
        (b'{"record_id": "x", "area": ', {"content-type": "application/json"}),
        (b"\xff\xfe not text", None),
        (b"", None),
    ],
)
async def test_malformed_json_is_dead_lettered_not_dropped(
    harness: Harness, raw: bytes, headers: dict[str, str] | None
) -> None:
    # A JSON content type would make faststream's own decoder fail before our code runs.
    await harness.broker.publish(raw, harness.topics.raw, headers=headers)
    [(key, body)] = harness.seen.on(harness.topics.rejected)
    event = RecordRejected.model_validate(body)
    assert event.original == raw.decode("utf-8", errors="replace")
    assert [(r.field, r.rule) for r in event.reasons] == [(None, "json")]
    assert event.record_id is None
    assert key in (b"", None)


async def test_a_json_array_is_split_into_records(harness: Harness) -> None:
    batch: list[Any] = [house("a-1"), house("a-2", labelled=False), {"record_id": "a-3"}, 7]
    await harness.broker.publish(batch, harness.topics.raw)
    assert [key for key, _ in harness.seen.on(harness.topics.records)] == [b"a-1"]
    assert [key for key, _ in harness.seen.on(harness.topics.predict_requests)] == [b"a-2"]
    rejected = [
        RecordRejected.model_validate(body) for _, body in harness.seen.on(harness.topics.rejected)
    ]
    assert [event.record_id for event in rejected] == ["a-3", None]
    assert [json.loads(event.original) for event in rejected] == [{"record_id": "a-3"}, 7]
    assert {r.rule for r in rejected[0].reasons} == {"required"}
    assert [r.rule for r in rejected[1].reasons] == ["type"]


async def test_records_without_ids_get_fresh_ids_and_are_never_duplicates(
    harness: Harness,
) -> None:
    record = house("ignored")
    del record["record_id"]
    await harness.broker.publish(record, harness.topics.raw)
    await harness.broker.publish([record, record], harness.topics.raw)
    keys = [key for key, _ in harness.seen.on(harness.topics.records)]
    # Identical rows are records of their own: three records, three ids, no duplicate.
    assert len(keys) == len(set(keys)) == 3
    assert harness.seen.on(harness.topics.rejected) == []


async def test_a_batch_is_routed_in_order_with_duplicates_dead_lettered(harness: Harness) -> None:
    # The test broker gives every message offset 0, so the resent b-1 differs in one value:
    # byte for byte at the same position it would be a redelivery, routed again (unit tests).
    resent = {**house("b-1"), "area": house("b-1")["area"] + 1}
    records: list[Any] = [house("b-1"), house("b-2"), resent, b"{oops"]
    await harness.broker.publish_batch(*records, topic=harness.topics.raw)
    assert [key for key, _ in harness.seen.on(harness.topics.records)] == [b"b-1", b"b-2"]
    rejected = [
        RecordRejected.model_validate(body) for _, body in harness.seen.on(harness.topics.rejected)
    ]
    assert [(e.record_id, [r.rule for r in e.reasons]) for e in rejected] == [
        ("b-1", ["duplicate"]),
        (None, ["json"]),
    ]


def test_the_raw_subscriber_commits_after_publishing_in_its_own_group(harness: Harness) -> None:
    subscribers: list[Any] = list(harness.broker.subscribers)
    [subscriber] = [s for s in subscribers if harness.topics.raw in {t.name for t in s.topics}]
    assert subscriber.group_id == "svc-kafka.mlbus-ingest"
    # The handler commits through the rebalance gate, which the listener keeps informed.
    assert subscriber.ack_policy is AckPolicy.MANUAL
    assert isinstance(subscriber._listener, CommitOnRebalance)
    assert subscriber.max_records == Settings().batch_max_records  # validated in batches


async def test_binary_header_values_do_not_make_a_message_unreadable() -> None:
    record: ConsumerRecord[bytes, bytes] = ConsumerRecord(
        topic="raw", partition=0, offset=5, timestamp=0, timestamp_type=0, key=b"k",
        value=b"{}", checksum=None, serialized_key_size=1, serialized_value_size=2,
        headers=[("trace", b"\x00\xff\x10"), ("content-type", b"application/json")],
    )  # fmt: skip
    parser = AioKafkaParser(msg_class=KafkaStreamMessage, regex=None)
    with pytest.raises(UnicodeDecodeError):
        await parser.parse_message(record)
    message = await tolerant_parser(record, parser.parse_message)
    assert message.body == b"{}"
    assert message.headers["trace"] == "\x00\ufffd\x10"
    raw = message.raw_message
    assert not isinstance(raw, tuple)
    assert (raw.offset, raw.value) == (5, b"{}")
