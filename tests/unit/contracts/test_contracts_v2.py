"""RecordIngested v2 beside v1: v1 consumers keep working, v2 consumers read both."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from contracts import (
    RECORD_INGESTED_ANY,
    RecordIngested,
    RecordIngestedV2,
    Topics,
    as_v2,
    records_v2_topic,
)

# A v1 event as the phase-1 ingest published it: v1 consumers must read it forever.
V1_PAYLOAD = (
    Path(__file__).parent / "schemas" / "examples" / "record.ingested.v1.json"
).read_text()


def v2_event() -> RecordIngestedV2:
    return RecordIngestedV2(
        record_id="r-1",
        dataset="house-prices",
        features={"area": 120.0, "bedrooms": 3, "mainroad": "yes"},
        target=10.5,
        imputed=("area",),
        source="ingest.raw.v1",
        partition=2,
        offset=41,
    )


def test_a_v1_consumer_reads_old_v1_payloads() -> None:
    event = RecordIngested.model_validate_json(V1_PAYLOAD)
    assert (event.kind, event.record_id, event.target) == ("record.ingested.v1", "h-1", 123.5)


def test_the_v1_form_of_a_v2_event_is_what_v1_consumers_expect() -> None:
    v2 = v2_event()
    v1 = RecordIngested.model_validate_json(v2.to_v1().model_dump_json())
    assert (v1.event_id, v1.record_id, v1.features, v1.target) == (
        v2.event_id,
        v2.record_id,
        v2.features,
        v2.target,
    )


def test_v2_never_reaches_v1_consumers_on_their_topic() -> None:
    with pytest.raises(ValidationError):  # why v2 has a topic of its own
        RecordIngested.model_validate_json(v2_event().model_dump_json())
    topics = Topics.with_prefix("t.")
    assert records_v2_topic(topics) == "t.ingest.records.v2"
    assert records_v2_topic(topics) not in topics.all()


def test_a_v2_consumer_reads_both_versions() -> None:
    old = RECORD_INGESTED_ANY.validate_json(V1_PAYLOAD)
    new = RECORD_INGESTED_ANY.validate_json(v2_event().model_dump_json())
    assert isinstance(old, RecordIngested)
    assert isinstance(new, RecordIngestedV2)
    upgraded = as_v2(old)
    assert (upgraded.record_id, upgraded.imputed, upgraded.source) == ("h-1", (), "unknown")
    assert as_v2(new) is new
    assert json.loads(V1_PAYLOAD)["features"] == upgraded.features
