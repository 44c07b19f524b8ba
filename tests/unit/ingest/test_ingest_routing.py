"""The Ingestor routes records to their topics, without a broker."""

from __future__ import annotations

import json
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from contracts import (
    HOUSE_PRICES,
    MAX_ORIGINAL_CHARS,
    MAX_REASONS,
    Envelope,
    PredictionRequested,
    RecordIngested,
    RecordRejected,
    Topics,
)
from mlbus.datagen import RecordGenerator
from services.common.spec_catalogue import SpecCatalogue
from services.ingest.metrics import IngestMetrics
from services.ingest.routing import Ingestor, Message, Origin
from services.ingest.validation import validate_record
from tests.support.sent_events import Recorder

TOPICS = Topics.with_prefix("unit.")
KAFKA = Origin(source=TOPICS.raw, partition=2, offset=41)
RECORDS_TOTAL = "mlbus_ingest_records_total"


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def sent() -> Recorder:
    return Recorder()


@pytest.fixture
def ingestor(sent: Recorder, registry: CollectorRegistry) -> Ingestor:
    return Ingestor(SpecCatalogue(HOUSE_PRICES), TOPICS, sent, IngestMetrics(registry))


def encode(value: Any) -> bytes:
    return json.dumps(value).encode()


def labelled() -> dict[str, Any]:
    return RecordGenerator(seed=1).record(labelled=True)


def unlabelled() -> dict[str, Any]:
    return RecordGenerator(seed=2, id_prefix="u").record(labelled=False)


def count(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    assert value is not None
    return value


async def test_labelled_records_go_to_training(ingestor: Ingestor, sent: Recorder) -> None:
    record = labelled()
    outcome = await ingestor.ingest(encode(record), KAFKA)
    assert (outcome.accepted, outcome.rejected) == (1, [])
    [(event, topic, key)] = sent.sent
    assert topic == TOPICS.records
    assert key == record["record_id"].encode()
    assert isinstance(event, RecordIngested)
    assert event.target == record["price"]
    assert event.dataset == "house-prices"


async def test_unlabelled_records_go_to_prediction(ingestor: Ingestor, sent: Recorder) -> None:
    record = unlabelled()
    await ingestor.ingest(encode(record), KAFKA)
    [(event, topic, key)] = sent.sent
    assert topic == TOPICS.predict_requests
    assert key == record["record_id"].encode()
    assert isinstance(event, PredictionRequested)
    assert event.features["furnishingstatus"] in {"furnished", "semi-furnished", "unfurnished"}


async def test_rejections_keep_the_original_and_every_reason(
    ingestor: Ingestor, sent: Recorder
) -> None:
    raw = encode({**labelled(), "area": -1, "mainroad": "maybe"})
    outcome = await ingestor.ingest(raw, KAFKA)
    [event] = sent.on(TOPICS.rejected)
    assert isinstance(event, RecordRejected)
    assert event.original == raw.decode()
    assert (event.source, event.partition, event.offset) == (TOPICS.raw, 2, 41)
    assert [(r.field, r.rule) for r in event.reasons] == [("area", "min"), ("mainroad", "category")]
    assert outcome.accepted == 0
    assert [(r.index, r.record_id) for r in outcome.rejected] == [(0, event.record_id)]


async def test_bytes_that_are_not_utf8_are_kept_with_replacement(
    ingestor: Ingestor, sent: Recorder
) -> None:
    await ingestor.ingest(b'{"a": "\xff"', KAFKA)
    [(event, _, key)] = sent.sent
    assert isinstance(event, RecordRejected)
    assert event.original == '{"a": "\ufffd"'
    assert key is None
    assert event.reasons[0].rule == "json"


async def test_each_element_of_an_array_is_routed_on_its_own(
    ingestor: Ingestor, sent: Recorder, registry: CollectorRegistry
) -> None:
    bad = {"area": 5}
    outcome = await ingestor.ingest(encode([labelled(), bad, unlabelled(), "x"]), KAFKA)
    assert outcome.accepted == 2
    assert [r.index for r in outcome.rejected] == [1, 3]
    assert len(sent.on(TOPICS.records)) == 1
    assert len(sent.on(TOPICS.predict_requests)) == 1
    rejected = sent.on(TOPICS.rejected)
    assert [json.loads(e.original) for e in rejected] == [bad, "x"]
    assert count(registry, RECORDS_TOTAL, outcome="accepted", dataset="house-prices") == 2
    assert count(registry, RECORDS_TOTAL, outcome="rejected", dataset="house-prices") == 2
    assert count(registry, "mlbus_ingest_routed_total", destination="training") == 1
    assert count(registry, "mlbus_ingest_routed_total", destination="prediction") == 1


async def test_an_empty_array_carries_no_records(ingestor: Ingestor, sent: Recorder) -> None:
    outcome = await ingestor.ingest(b"[]", KAFKA)
    assert (outcome.accepted, outcome.rejected, sent.sent) == (0, [], [])


async def test_a_redelivered_message_gets_the_same_event_ids(
    ingestor: Ingestor, sent: Recorder
) -> None:
    raw = encode([labelled(), {"bad": 1}])
    await ingestor.ingest(raw, KAFKA)
    await ingestor.ingest(raw, KAFKA)
    first, second = (
        [e.event_id for e, _, _ in sent.sent[:2]],
        [e.event_id for e, _, _ in sent.sent[2:]],
    )
    assert first == second
    assert len(set(first)) == 2
    await ingestor.ingest(raw, Origin(source=TOPICS.raw, partition=2, offset=42))
    assert not {e.event_id for e, _, _ in sent.sent[4:]} & set(first)


async def test_http_messages_get_fresh_event_ids(ingestor: Ingestor, sent: Recorder) -> None:
    raw = encode(labelled())
    await ingestor.ingest(raw, Origin(source="http"))
    await ingestor.ingest(raw, Origin(source="http"))
    assert sent.sent[0][0].event_id != sent.sent[1][0].event_id


async def test_an_unexpected_error_dead_letters_the_record(
    ingestor: Ingestor, sent: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    def flaky(record: object, spec: Any, **options: Any) -> Any:
        if isinstance(record, dict) and record.get("record_id") == "boom":
            raise ZeroDivisionError("surprise")
        return validate_record(record, spec, **options)

    monkeypatch.setattr("services.ingest.routing.validate_record", flaky)
    outcome = await ingestor.ingest(
        encode([{**labelled(), "record_id": "boom"}, labelled()]), KAFKA
    )
    assert outcome.accepted == 1
    [event] = sent.on(TOPICS.rejected)
    assert [(r.field, r.rule) for r in event.reasons] == [(None, "handler_error")]
    assert "ZeroDivisionError: surprise" in event.reasons[0].message
    assert len(sent.on(TOPICS.records)) == 1


async def test_publish_failures_propagate_so_the_input_is_not_committed(
    registry: CollectorRegistry,
) -> None:
    async def broken(event: Envelope, body: bytes, topic: str, key: bytes | None) -> None:
        raise ConnectionError("broker down")

    ingestor = Ingestor(SpecCatalogue(HOUSE_PRICES), TOPICS, broken, IngestMetrics(registry))
    with pytest.raises(ConnectionError):
        await ingestor.ingest(encode(labelled()), KAFKA)
    assert count(registry, RECORDS_TOTAL, outcome="accepted", dataset="house-prices") == 0


async def test_huge_rejections_are_bounded(ingestor: Ingestor, sent: Recorder) -> None:
    record = {**labelled(), **{f"junk_{i}": "x" * 100 for i in range(2000)}}
    await ingestor.ingest(encode(record), KAFKA)
    [event] = sent.on(TOPICS.rejected)
    assert len(event.reasons) == MAX_REASONS
    assert event.reasons[-1].rule == "truncated"
    assert event.reasons[-1].message.startswith(f"{2000 - MAX_REASONS + 1} more")
    assert len(event.original) < MAX_ORIGINAL_CHARS + 100
    assert event.original.endswith("more characters cut]")
    assert len(event.model_dump_json()) < 512 * 1024


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'["\\ud800"]', "$[0]"),
        (b'{"record_id": "\\udc00x", "area": 1}', "$.record_id"),
        (b'{"\\ud83dname": 1}', "$ (a key)"),
    ],
)
async def test_text_that_is_not_unicode_is_refused_at_decode_time(
    ingestor: Ingestor, sent: Recorder, raw: bytes, field: str
) -> None:
    outcome = await ingestor.ingest(raw, KAFKA)
    [event] = sent.on(TOPICS.rejected)
    assert [(r.field, r.rule) for r in event.reasons] == [(field, "unicode")]
    assert outcome.accepted == 0
    assert len(outcome.rejected) == 1
    event.model_dump_json().encode("utf-8")  # it serialises: the surrogate was escaped


async def test_a_lone_surrogate_in_one_element_fails_that_element_alone(
    ingestor: Ingestor, sent: Recorder
) -> None:
    good = labelled()
    raw = b"[" + encode(good) + b', {"area": "\\ud800"}]'
    outcome = await ingestor.ingest(raw, KAFKA)
    assert outcome.accepted == 1
    [event] = sent.on(TOPICS.rejected)
    assert [(r.field, r.rule) for r in event.reasons] == [("$[1].area", "unicode")]
    assert "\\ud800" in event.original  # escaped, so the original still serialises


async def test_a_record_with_a_million_character_field_name_gets_a_bounded_event(
    ingestor: Ingestor, sent: Recorder
) -> None:
    raw = encode({**labelled(), "k" * 1_000_000: 1})
    outcome = await ingestor.ingest(raw, KAFKA)
    assert outcome.accepted == 0
    [event] = sent.on(TOPICS.rejected)
    [reason] = event.reasons
    assert reason.rule == "unknown_field"
    assert reason.field is not None
    assert reason.field.endswith("more characters cut]")
    assert len(event.model_dump_json()) < 200_000


async def test_a_record_whose_event_is_too_large_is_dead_lettered_alone(
    sent: Recorder, registry: CollectorRegistry
) -> None:
    small = Ingestor(
        SpecCatalogue(HOUSE_PRICES), TOPICS, sent, IngestMetrics(registry), max_event_bytes=900
    )
    record = labelled()
    outcome = await small.ingest(encode([record, {**record, "record_id": "x" * 250}]), KAFKA)
    assert outcome.accepted == 1
    [event] = sent.on(TOPICS.rejected)
    assert [r.rule for r in event.reasons] == ["size"]
    assert event.record_id == "x" * 250
    assert len(sent.on(TOPICS.records)) == 1


async def test_a_record_whose_event_cannot_be_serialised_is_dead_lettered_alone(
    ingestor: Ingestor, sent: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = RecordIngested.model_dump_json

    def fussy(event: RecordIngested, **kwargs: Any) -> str:
        if event.record_id == "unserialisable":
            raise ValueError("cannot")
        return original(event, **kwargs)

    monkeypatch.setattr(RecordIngested, "model_dump_json", fussy)
    outcome = await ingestor.ingest(
        encode([{**labelled(), "record_id": "unserialisable"}, labelled()]), KAFKA
    )
    assert outcome.accepted == 1
    [event] = sent.on(TOPICS.rejected)
    assert [r.rule for r in event.reasons] == ["serialise"]
    assert event.record_id == "unserialisable"


async def test_dead_letter_sends_one_message_alone_with_the_error(
    ingestor: Ingestor, sent: Recorder, registry: CollectorRegistry
) -> None:
    await ingestor.dead_letter(_message(b'{"area": 1}'), RuntimeError("still failing"))
    [event] = sent.on(TOPICS.rejected)
    assert [(r.rule, r.message) for r in event.reasons] == [
        ("unhandled", "RuntimeError: still failing")
    ]
    assert (event.partition, event.offset) == (KAFKA.partition, KAFKA.offset)
    assert count(registry, RECORDS_TOTAL, outcome="rejected", dataset="house-prices") == 1


def _message(raw: bytes) -> Message:
    return Message(raw, KAFKA)
