"""Idempotency and accounting: no id routed twice within the horizon; every record counted."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from uuid import uuid4

import pytest
from prometheus_client import CollectorRegistry

from contracts import HOUSE_PRICES, Envelope, NumericFeature, RecordRejected, Topics
from mlbus.datagen import RecordGenerator
from services.common.spec_catalogue import SpecCatalogue
from services.ingest.dedup import SeenIds
from services.ingest.metrics import OUTCOMES, IngestMetrics
from services.ingest.routing import Ingestor, Message, Origin
from services.ingest.validation import validate_record

TOPICS = Topics.with_prefix("idem.")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Sender:
    """Sends without acknowledging at once, like the real producer; can be told to fail."""

    def __init__(self) -> None:
        self.sent: list[tuple[Envelope, str]] = []
        self.fail = False

    async def __call__(
        self, event: Envelope, body: bytes, topic: str, key: bytes | None
    ) -> asyncio.Future[Any]:
        acknowledgement: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self.fail:
            acknowledgement.set_exception(ConnectionError("broker gone"))
        else:
            self.sent.append((event, topic))
            acknowledgement.set_result(None)
        return acknowledgement

    def topics(self) -> list[str]:
        return [topic for _, topic in self.sent]


def records(count: int) -> list[dict[str, Any]]:
    return list(RecordGenerator(seed=9, id_prefix="idem").records(count))


def outcomes(registry: CollectorRegistry) -> dict[str, float]:
    return {
        outcome: registry.get_sample_value(
            "mlbus_ingest_records_total", {"outcome": outcome, "dataset": HOUSE_PRICES.name}
        )
        or 0
        for outcome in OUTCOMES
    }


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def sender() -> Sender:
    return Sender()


@pytest.fixture
def ingestor(clock: Clock, registry: CollectorRegistry, sender: Sender) -> Ingestor:
    seen = SeenIds(horizon_seconds=60, max_ids=100, clock=clock)
    return Ingestor(SpecCatalogue(HOUSE_PRICES), TOPICS, sender, IngestMetrics(registry), seen)


def kafka(raw: Any, offset: int) -> Message:
    body = raw if isinstance(raw, bytes) else json.dumps(raw).encode()
    return Message(body, Origin(TOPICS.raw, partition=0, offset=offset))


async def test_a_record_id_seen_again_within_the_horizon_is_not_routed_twice(
    ingestor: Ingestor, sender: Sender, clock: Clock, registry: CollectorRegistry
) -> None:
    [record] = records(1)
    await ingestor.ingest_batch([kafka(record, 0), kafka(record, 1)])
    clock.now += 30
    await ingestor.ingest_batch([kafka(record, 2)])
    assert sender.topics() == [TOPICS.records, TOPICS.rejected, TOPICS.rejected]
    duplicates = [e for e, _ in sender.sent if isinstance(e, RecordRejected)]
    assert [(d.offset, [r.rule for r in d.reasons]) for d in duplicates] == [
        (1, ["duplicate"]),
        (2, ["duplicate"]),
    ]
    clock.now += 61  # past the horizon: the id may be routed again
    await ingestor.ingest_batch([kafka(record, 3)])
    assert sender.topics()[-1] == TOPICS.records
    assert outcomes(registry) == {"accepted": 2, "rejected": 0, "duplicate": 2}


async def test_received_is_the_sum_of_the_outcomes(
    ingestor: Ingestor, registry: CollectorRegistry
) -> None:
    good = records(3)
    messages = [good[0], good[1], good[0], {"record_id": "x"}, b"[1, {", [good[2], good[2], 5]]
    batch = [kafka(raw, offset) for offset, raw in enumerate(messages)]
    answers = await ingestor.ingest_batch(batch)
    assert [(o.accepted, len(o.rejected), len(o.duplicates)) for o in answers] == [
        (1, 0, 0),
        (1, 0, 0),
        (0, 0, 1),
        (0, 1, 0),
        (0, 1, 0),
        (1, 1, 1),
    ]
    assert outcomes(registry) == {"accepted": 3, "rejected": 3, "duplicate": 2}


async def test_a_failed_publish_remembers_and_counts_nothing(
    ingestor: Ingestor, sender: Sender, registry: CollectorRegistry
) -> None:
    [record] = records(1)
    sender.fail = True
    with pytest.raises(ConnectionError):
        await ingestor.ingest_batch([kafka(record, 0)])
    assert outcomes(registry) == {"accepted": 0, "rejected": 0, "duplicate": 0}
    sender.fail = False  # the redelivery is routed: the id was never acknowledged
    await ingestor.ingest_batch([kafka(record, 0)])
    assert sender.topics() == [TOPICS.records]


async def test_a_rejected_record_is_not_remembered(ingestor: Ingestor, sender: Sender) -> None:
    [record] = records(1)
    await ingestor.ingest_batch([kafka({**record, "area": -1}, 0), kafka(record, 1)])
    assert sender.topics() == [TOPICS.rejected, TOPICS.records]


async def test_a_zero_horizon_turns_idempotency_off(registry: CollectorRegistry) -> None:
    sender = Sender()
    catalogue = SpecCatalogue(HOUSE_PRICES)
    ingestor = Ingestor(catalogue, TOPICS, sender, IngestMetrics(registry), SeenIds(0, max_ids=10))
    [record] = records(1)
    await ingestor.ingest_batch([kafka(record, 0), kafka(record, 1)])
    assert sender.topics() == [TOPICS.records, TOPICS.records]


def test_the_window_forgets_the_oldest_ids_beyond_its_size(clock: Clock) -> None:
    seen = SeenIds(horizon_seconds=60, max_ids=2, clock=clock)
    seen.remember({("d", "a", False): uuid4(), ("d", "b", False): uuid4()})
    clock.now += 1
    seen.remember({("d", "c", True): uuid4()})
    keys = [("d", "a", False), ("d", "b", False), ("d", "c", True)]
    assert [seen.contains(key) for key in keys] == [False, True, True]
    assert not seen.contains(("d", "c", False))
    assert len(seen) == 2


def test_nullable_features_take_the_imputed_value() -> None:
    spec = HOUSE_PRICES.model_copy(
        update={
            "features": (
                *HOUSE_PRICES.features[1:],
                NumericFeature(name="area", min=100, nullable=True, impute=1500),
            )
        }
    )
    [record] = records(1)
    del record["area"]
    result = validate_record(record, spec)
    assert result.features["area"] == 1500.0  # type: ignore[union-attr]
    assert isinstance(result.features["area"], float)  # type: ignore[union-attr]
    assert result.imputed == ("area",)  # type: ignore[union-attr]
    record["area"] = None
    assert validate_record({**record}, spec).features["area"] == 1500.0  # type: ignore[union-attr]


async def test_records_without_ids_get_fresh_ids_and_are_never_duplicates(
    ingestor: Ingestor, sender: Sender, registry: CollectorRegistry
) -> None:
    [record] = records(1)
    anonymous = {k: v for k, v in record.items() if k != "record_id"}
    # Two identical rows in one message, and the same row again in another: three records.
    await ingestor.ingest_batch([kafka([anonymous, anonymous], 0), kafka(anonymous, 1)])
    routed = [e for e, topic in sender.sent if topic == TOPICS.records]
    ids = [e.record_id for e in routed]  # type: ignore[attr-defined]
    assert len(ids) == len(set(ids)) == 3
    assert outcomes(registry) == {"accepted": 3, "rejected": 0, "duplicate": 0}
    assert len(ingestor._seen) == 0  # generated ids never fill the duplicate window

    # A redelivery of the same message (same partition and offset) gets the same ids.
    await ingestor.ingest_batch([kafka(anonymous, 1)])
    assert sender.sent[-1][0].record_id == ids[-1]  # type: ignore[attr-defined]

    # Explicit ids still count: the same id twice is a duplicate.
    await ingestor.ingest_batch([kafka(record, 2), kafka(record, 3)])
    assert outcomes(registry)["duplicate"] == 1


async def test_an_http_record_without_an_id_gets_a_fresh_id(
    ingestor: Ingestor, sender: Sender
) -> None:
    [record] = records(1)
    anonymous = json.dumps({k: v for k, v in record.items() if k != "record_id"}).encode()
    first = await ingestor.ingest(anonymous, Origin(source="http"))
    second = await ingestor.ingest(anonymous, Origin(source="http"))
    assert (first.accepted, second.accepted) == (1, 1)
    ids = {e.record_id for e, _ in sender.sent}  # type: ignore[attr-defined]
    assert len(ids) == 2


async def test_the_late_label_of_a_scored_record_is_routed_and_only_once(
    ingestor: Ingestor, sender: Sender, registry: CollectorRegistry
) -> None:
    [record] = records(1)
    unlabelled = {k: v for k, v in record.items() if k != HOUSE_PRICES.target.name}
    await ingestor.ingest_batch([kafka(unlabelled, 0)])
    await ingestor.ingest_batch([kafka(record, 1), kafka(record, 2), kafka(unlabelled, 3)])
    # Scored, then its label joins the training records; the repeats are duplicates.
    assert sender.topics() == [
        TOPICS.predict_requests,
        TOPICS.records,
        TOPICS.rejected,
        TOPICS.rejected,
    ]
    assert outcomes(registry) == {"accepted": 2, "rejected": 0, "duplicate": 2}


async def test_the_same_kafka_message_read_again_is_routed_again_under_its_event_id(
    ingestor: Ingestor, sender: Sender, registry: CollectorRegistry
) -> None:
    """A rebalance hands an uncommitted message back: a redelivery, not a sender's duplicate."""
    [record] = records(1)
    await ingestor.ingest_batch([kafka(record, 0)])
    await ingestor.ingest_batch([kafka(record, 0), kafka(record, 1)])
    assert sender.topics() == [TOPICS.records, TOPICS.records, TOPICS.rejected]
    first, again, duplicate = (event for event, _ in sender.sent)
    assert again.event_id == first.event_id != duplicate.event_id
    assert outcomes(registry) == {"accepted": 1, "rejected": 0, "duplicate": 1}
