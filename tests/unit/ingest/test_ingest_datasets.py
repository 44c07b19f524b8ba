"""Many data sets in one ingest: each message is validated by the spec of the data set it names."""

from __future__ import annotations

import json
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from contracts import (
    HOUSE_PRICES,
    MAX_ORIGINAL_CHARS,
    PredictionRequested,
    RecordIngested,
    RecordIngestedV2,
    Topics,
    records_v2_topic,
)
from mlbus.datagen import RecordGenerator
from services.common.spec_catalogue import SpecCatalogue
from services.ingest.dedup import SeenIds
from services.ingest.metrics import IngestMetrics
from services.ingest.routing import (
    MAX_NAMES_LISTED,
    Ingestor,
    Message,
    Origin,
    retired_reason,
    unknown_dataset_reason,
)
from tests.support.sent_events import Recorder
from tests.support.spec_samples import churn, registered, rentals, retired

TOPICS = Topics.with_prefix("unit-ds.")
RECORDS_TOTAL = "mlbus_ingest_records_total"


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def sent() -> Recorder:
    return Recorder()


@pytest.fixture
def catalogue() -> SpecCatalogue:
    known = SpecCatalogue(HOUSE_PRICES)
    known.learn(registered(rentals()))
    return known


@pytest.fixture
def ingestor(catalogue: SpecCatalogue, sent: Recorder, registry: CollectorRegistry) -> Ingestor:
    seen = SeenIds(horizon_seconds=60, max_ids=100)
    v2 = records_v2_topic(TOPICS)
    return Ingestor(catalogue, TOPICS, sent, IngestMetrics(registry), seen, records_v2_topic=v2)


def rental(record_id: str, rent: float | None = 900.0) -> dict[str, Any]:
    record = {"record_id": record_id, "area": 60, "rooms": 2, "district": "north"}
    return record if rent is None else {**record, "rent": rent}


def house(record_id: str) -> dict[str, Any]:
    return {**RecordGenerator(seed=4).record(labelled=True), "record_id": record_id}


def kafka(value: Any, offset: int, dataset: str | None = None) -> Message:
    return Message(json.dumps(value).encode(), Origin(TOPICS.raw, 0, offset), dataset)


def counted(registry: CollectorRegistry, outcome: str, dataset: str) -> float | None:
    return registry.get_sample_value(RECORDS_TOTAL, {"outcome": outcome, "dataset": dataset})


async def test_each_message_is_validated_by_the_spec_of_its_data_set(
    ingestor: Ingestor, sent: Recorder
) -> None:
    outcomes = await ingestor.ingest_batch(
        [kafka(rental("r-1"), 0, "rentals"), kafka(house("h-1"), 1), kafka(house("h-2"), 2)]
    )
    assert [(o.dataset, o.accepted) for o in outcomes] == [
        ("rentals", 1),
        ("house-prices", 1),
        ("house-prices", 1),
    ]
    events = sent.on(TOPICS.records)
    assert [(e.record_id, e.dataset) for e in events] == [
        ("r-1", "rentals"),
        ("h-1", "house-prices"),
        ("h-2", "house-prices"),
    ]
    assert events[0].features == {"area": 60.0, "rooms": 2, "district": "north"}
    assert isinstance(events[0], RecordIngested)
    assert events[0].target == 900.0
    [v2] = [e for e in sent.on(records_v2_topic(TOPICS)) if e.record_id == "r-1"]
    assert isinstance(v2, RecordIngestedV2)
    assert v2.dataset == "rentals"


async def test_a_record_of_one_data_set_is_rejected_by_another_spec(
    ingestor: Ingestor, sent: Recorder
) -> None:
    outcome = await ingestor.ingest_batch([kafka(house("h-1"), 0, "rentals")])
    assert [o.accepted for o in outcome] == [0]
    [rejected] = sent.on(TOPICS.rejected)
    assert {"required", "unknown_field"} <= {reason.rule for reason in rejected.reasons}


async def test_unlabelled_records_are_prediction_requests_of_their_data_set(
    ingestor: Ingestor, sent: Recorder
) -> None:
    await ingestor.ingest(json.dumps(rental("r-2", rent=None)).encode(), Origin("http"), "rentals")
    [request] = sent.on(TOPICS.predict_requests)
    assert isinstance(request, PredictionRequested)
    assert request.dataset == "rentals"


async def test_every_record_of_an_unknown_data_set_is_dead_lettered_with_one_reason(
    ingestor: Ingestor, sent: Recorder, registry: CollectorRegistry
) -> None:
    records = [rental("r-1"), rental("r-2"), "not a record"]
    [outcome] = await ingestor.ingest_batch([kafka(records, 7, "rental")])
    assert (outcome.accepted, outcome.dataset) == (0, None)
    assert [(r.index, r.record_id) for r in outcome.rejected] == [(0, None), (1, None), (2, None)]
    dead = sent.on(TOPICS.rejected)
    assert [json.loads(event.original) for event in dead] == records
    assert {(event.offset, len(event.reasons)) for event in dead} == {(7, 1)}
    [reason] = dead[0].reasons
    assert (reason.field, reason.rule) == (None, "dataset")
    assert reason.message == "unknown data set 'rental'; known: house-prices, rentals"
    assert sent.on(TOPICS.records) == []
    assert counted(registry, "rejected", "unknown") == 3
    assert counted(registry, "rejected", "rentals") == 0


@pytest.mark.parametrize("raw", [b'{"area": 1}', b"not json at all", b'"text"'])
async def test_a_message_of_an_unknown_data_set_that_is_not_an_array_is_dead_lettered_whole(
    ingestor: Ingestor, sent: Recorder, raw: bytes
) -> None:
    [outcome] = await ingestor.ingest_batch([Message(raw, Origin(TOPICS.raw, 0, 3), "nope")])
    assert [(r.index, [x.rule for x in r.reasons]) for r in outcome.rejected] == [(0, ["dataset"])]
    [event] = sent.on(TOPICS.rejected)
    assert event.original == raw.decode()


async def test_a_hostile_data_set_name_gives_a_bounded_reason(
    catalogue: SpecCatalogue, ingestor: Ingestor, sent: Recorder, registry: CollectorRegistry
) -> None:
    for number in range(MAX_NAMES_LISTED + 5):
        catalogue.learn(registered(rentals(name=f"set-{number:02d}")))
    name = "x" * (2 * MAX_ORIGINAL_CHARS)
    await ingestor.ingest_batch([kafka([rental("r-1")], 0, name)])
    [event] = sent.on(TOPICS.rejected)
    [reason] = event.reasons
    assert len(reason.message) <= 240
    assert reason.message.startswith("unknown data set 'xxx")
    assert "x" * 100 not in reason.message
    labels = {s.labels.get("dataset") for m in registry.collect() for s in m.samples}
    assert name not in labels
    assert "unknown" in labels


def test_the_reason_lists_at_most_the_first_known_names() -> None:
    catalogue = SpecCatalogue(HOUSE_PRICES)
    for number in range(MAX_NAMES_LISTED + 5):
        catalogue.learn(registered(rentals(name=f"s{number:02d}")))
    reason = unknown_dataset_reason("nope", catalogue.names())
    listed = reason.message.split("known: ", 1)[1]
    assert listed.endswith(" and 6 more")
    assert listed.count(",") == MAX_NAMES_LISTED - 1


async def test_a_data_set_registered_at_run_time_is_served_from_its_next_message(
    catalogue: SpecCatalogue, ingestor: Ingestor, sent: Recorder, registry: CollectorRegistry
) -> None:
    record = {"record_id": "c-1", "tenure": 4, "outcome": "leave"}
    [before] = await ingestor.ingest_batch([kafka(record, 0, "churn")])
    assert counted(registry, "accepted", "churn") is None  # no series before it is known
    catalogue.learn(registered(churn()))
    assert counted(registry, "accepted", "churn") == 0  # exported as soon as it is known
    [after] = await ingestor.ingest_batch([kafka(record, 1, "churn")])
    assert (before.accepted, after.accepted) == (0, 1)
    [event] = sent.on(TOPICS.records)
    assert (event.dataset, event.target) == ("churn", "leave")
    assert counted(registry, "accepted", "churn") == 1


async def test_the_same_record_id_in_two_data_sets_is_not_a_duplicate(
    catalogue: SpecCatalogue, ingestor: Ingestor, sent: Recorder, registry: CollectorRegistry
) -> None:
    catalogue.learn(registered(rentals(name="flats")))
    batch = [kafka(rental("same"), 0, "rentals"), kafka(rental("same"), 1, "flats")]
    outcomes = await ingestor.ingest_batch(batch)
    assert [(o.accepted, o.duplicates) for o in outcomes] == [(1, []), (1, [])]
    [again] = await ingestor.ingest_batch([kafka(rental("same"), 2, "flats")])
    assert [d.record_id for d in again.duplicates] == ["same"]
    assert [e.dataset for e in sent.on(TOPICS.records)] == ["rentals", "flats"]
    assert counted(registry, "duplicate", "flats") == 1
    assert counted(registry, "duplicate", "rentals") == 0


async def test_a_redelivered_message_of_a_data_set_is_routed_again_not_dead_lettered(
    ingestor: Ingestor, sent: Recorder
) -> None:
    message = kafka(rental("r-9"), 5, "rentals")
    await ingestor.ingest_batch([message])
    await ingestor.ingest_batch([message])
    first, again = sent.on(TOPICS.records)
    assert first.event_id == again.event_id
    assert sent.on(TOPICS.rejected) == []


async def test_a_dead_lettered_poison_message_counts_for_its_data_set(
    ingestor: Ingestor, registry: CollectorRegistry
) -> None:
    await ingestor.dead_letter(kafka(rental("r-1"), 0, "rentals"), RuntimeError("stuck"))
    await ingestor.dead_letter(kafka(rental("r-1"), 1, "elsewhere"), RuntimeError("stuck"))
    assert counted(registry, "rejected", "rentals") == 1
    assert counted(registry, "rejected", "unknown") == 1


async def test_every_record_of_a_retired_data_set_is_dead_lettered_with_why(
    catalogue: SpecCatalogue, ingestor: Ingestor, sent: Recorder, registry: CollectorRegistry
) -> None:
    catalogue.learn(retired("rentals", reason="replaced by flats"))
    records = [rental("r-1"), rental("r-2")]
    [outcome] = await ingestor.ingest_batch([kafka(records, 5, "rentals")])
    assert (outcome.accepted, outcome.dataset) == (0, "rentals")
    dead = sent.on(TOPICS.rejected)
    assert [json.loads(event.original) for event in dead] == records
    reasons = {reason for event in dead for reason in event.reasons}
    assert reasons == {retired_reason(retired("rentals", reason="replaced by flats"))}
    [reason] = reasons
    assert (reason.field, reason.rule) == (None, "retired")
    assert reason.message == (
        "data set 'rentals' retired since 2026-12-07T00:00:00+00:00: replaced by flats"
    )
    assert counted(registry, "rejected", "rentals") == 2
    assert sent.on(TOPICS.records) == []


async def test_a_retired_data_set_registered_again_is_served(
    catalogue: SpecCatalogue, ingestor: Ingestor, sent: Recorder
) -> None:
    catalogue.learn(retired("rentals", version=1))
    catalogue.learn(registered(rentals(), version=2))
    [outcome] = await ingestor.ingest_batch([kafka(rental("r-1"), 0, "rentals")])
    assert outcome.accepted == 1
    assert sent.on(TOPICS.rejected) == []
