"""The largest possible dead-letter and prediction events fit in Apache Kafka's message.max.bytes.

Both are bounded by construction (contracts.RecordRejected cuts every text, the predictor refuses
requests over max_request_bytes and record ids over 5,000 characters); here the worst cases are
built and sent to a broker with its default limit (1 MiB), which must take them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaProducer

from contracts import MAX_ORIGINAL_CHARS, MAX_REASONS, RecordRejected, RejectionReason
from mlbus.brokers import ApacheKafkaBroker
from services.predictor.config import Settings as PredictorSettings
from services.predictor.request_batch import (
    MAX_RECORD_ID_CHARS,
    RawRequest,
    encode_json,
    parse_requests,
)
from services.predictor.scoring import Prediction

pytestmark = pytest.mark.e2e

MESSAGE_MAX_BYTES = 1024 * 1024  # Apache Kafka's default message.max.bytes
# JSON's costliest characters: a control character is 6 bytes (\u0001), an emoji 4 in UTF-8.
COSTLY = "\x01"
WIDE = "\U0001f600"


def largest_dead_letter() -> tuple[bytes, bytes]:
    """The largest RecordRejected any service can make, and its key."""
    long = COSTLY * 10**6
    reasons = [RejectionReason(field=long, rule=long, message=long)] * (MAX_REASONS * 10)
    event = RecordRejected(
        record_id=WIDE * 10**4,
        source=long,
        partition=2**31,
        offset=2**63,
        original=long,
        reasons=reasons,
    )
    assert len(event.reasons) == MAX_REASONS
    assert len(event.original) <= MAX_ORIGINAL_CHARS
    assert event.record_id is not None
    return event.model_dump_json().encode(), event.record_id.encode()


def largest_prediction() -> tuple[bytes, bytes]:
    """The prediction of the largest request the predictor scores, and its key."""
    max_bytes = PredictorSettings().max_request_bytes
    request = {
        "kind": "prediction.requested.v1",
        "event_id": str(uuid.uuid4()),
        "occurred_at": datetime.now(UTC).isoformat(),
        "record_id": WIDE * MAX_RECORD_ID_CHARS,
        "dataset": "d",
        "features": {"area": 1.0, "note": ""},
    }
    room = max_bytes - len(json.dumps(request, ensure_ascii=False).encode())
    request["features"] = {"area": 1.0, "note": COSTLY * (room // 6)}
    raw = json.dumps(request, ensure_ascii=False).encode()
    assert max_bytes - 6 < len(raw) <= max_bytes
    parsed, rejected = parse_requests([RawRequest(raw, "requests", 0, 0)], max_bytes)
    assert rejected == []
    assert len(parsed) == 1
    [event] = parsed.events
    prediction = Prediction(
        event.record_id,
        event.event_id,
        "m" * 200,
        2**63 - 1,
        -1.7976931348623157e308,
        event.features,
        datetime.now(UTC),
        str(uuid.uuid4()),
    )
    return encode_json(prediction), event.record_id.encode()


@pytest.mark.parametrize("build", [largest_dead_letter, largest_prediction])
async def test_the_largest_event_fits_in_a_kafka_message(
    kafka_broker: ApacheKafkaBroker, build: Callable[[], tuple[bytes, bytes]]
) -> None:
    value, key = build()
    print(f"{build.__name__}: value {len(value):,} bytes + key {len(key):,} bytes")
    assert len(value) + len(key) < MESSAGE_MAX_BYTES - 4096  # room for the batch's own headers
    # A producer that lets the broker judge: its own limit is far above the broker's.
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_broker.bootstrap_servers, max_request_size=8 * MESSAGE_MAX_BYTES
    )
    await producer.start()
    try:
        topic = f"bounds.{uuid.uuid4().hex[:8]}"
        sent = await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()
    assert sent.offset >= 0
