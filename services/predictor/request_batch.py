"""Decoding a consumed batch of PredictionRequested events: no broker, no model involved.

msgspec structs mirror the contract (same JSON, checked by the tests): pydantic costs more per
message than the whole onnxruntime call of a batch. For the same reason a batch is kept as
parallel lists rather than an object per request, a request's features are kept both decoded
and as the JSON they came in (echoed into the prediction as they are), and event ids are
checked a batch at a time (event_ids.py). The structs are not tracked by the garbage
collector: they hold no cycles.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Literal, Protocol

import msgspec
import numpy as np

from contracts import RecordRejected, RejectionReason, bounded_original
from services.predictor.event_ids import TEXT_LENGTH, Bytes16, parse_uuids

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

log = logging.getLogger(__name__)

PREDICT_ERROR = "predict_error"


class Consumed(Protocol):
    """Where a request came from: a Kafka ConsumerRecord as it is, or a RawRequest."""

    @property
    def value(self) -> bytes | None: ...
    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int | None: ...
    @property
    def offset(self) -> int | None: ...


class RawRequest(msgspec.Struct, frozen=True):
    """A request that did not come from Kafka (HTTP, tests): its bytes and its source."""

    value: bytes
    topic: str
    partition: int | None = None
    offset: int | None = None


FeatureValue = float | int | str | bool | None
Features = dict[str, FeatureValue]
# A UUID in its canonical text form, as JSON encoders write them; checked per batch.
UuidText = Annotated[str, msgspec.Meta(min_length=TEXT_LENGTH, max_length=TEXT_LENGTH)]


# A record id is echoed twice in a prediction (its key too): with this bound, the prediction of
# a request of max_request_bytes still fits in a Kafka message (tests/faults/
# test_fault_event_bounds.py). Ingest lets integer ids through as their digits (up to 4,300).
MAX_RECORD_ID_CHARS = 5_000
RecordId = Annotated[str, msgspec.Meta(max_length=MAX_RECORD_ID_CHARS)]


class Request(msgspec.Struct, frozen=True, forbid_unknown_fields=True, gc=False):
    """contracts.PredictionRequested, decoded by msgspec; `features` still as JSON."""

    record_id: RecordId
    dataset: str
    features: msgspec.Raw
    kind: Literal["prediction.requested.v1"] = "prediction.requested.v1"
    event_id: UuidText = msgspec.field(default_factory=lambda: str(uuid.uuid4()))
    occurred_at: datetime = msgspec.field(default_factory=lambda: datetime.now(UTC))


_decode_request = msgspec.json.Decoder(Request).decode
_decode_features = msgspec.json.Decoder(Features).decode
encode_json = msgspec.json.Encoder().encode


@dataclass(frozen=True)
class RequestBatch:
    """Decoded requests, row by row across parallel lists: where each came from, the event,
    its features decoded, and its event id's 16 bytes (prediction ids derive from them)."""

    sources: list[Consumed]
    events: list[Request]
    features: list[Features]
    event_ids: Bytes16

    @classmethod
    def made_here(
        cls,
        source: Consumed,
        dataset: str,
        records: Sequence[tuple[str, Mapping[str, FeatureValue]]],
    ) -> RequestBatch:
        """Requests made here rather than consumed (HTTP): (record id, features) each."""
        events = [
            Request(record_id, dataset, msgspec.Raw(encode_json(features)))
            for record_id, features in records
        ]
        ids, _ = parse_uuids([event.event_id for event in events])
        features = [dict(features) for _, features in records]
        return cls([source] * len(events), events, features, ids)

    def __len__(self) -> int:
        return len(self.events)

    def take(self, rows: Sequence[int]) -> RequestBatch:
        """The requests at `rows`, in that order."""
        return RequestBatch(
            [self.sources[row] for row in rows],
            [self.events[row] for row in rows],
            [self.features[row] for row in rows],
            self.event_ids[np.asarray(rows, dtype=np.intp)],
        )

    def reject(self, row: int, message: str, rule: str = PREDICT_ERROR) -> RecordRejected:
        """A RecordRejected for the request at `row`, for breaking `rule`."""
        return reject(self.sources[row], message, record_id=self.events[row].record_id, rule=rule)


def reject(
    raw: Consumed, message: str, record_id: str | None = None, rule: str = PREDICT_ERROR
) -> RecordRejected:
    """A RecordRejected for one request that could not be parsed or scored."""
    log.warning("predictor: rejected %s@%s:%s: %s", raw.topic, raw.partition, raw.offset, message)
    return RecordRejected(
        record_id=record_id,
        source=raw.topic,
        partition=raw.partition,
        offset=raw.offset,
        original=bounded_original((raw.value or b"").decode("utf-8", errors="replace")),
        reasons=(RejectionReason(field=None, rule=rule, message=message),),
    )


def parse_requests(
    raws: Sequence[Consumed], max_bytes: int | None = None
) -> tuple[RequestBatch, list[RecordRejected]]:
    """PredictionRequested events of the batch, and a rejection for each one that is not, or
    that is longer than `max_bytes`."""
    sources: list[Consumed] = []
    events: list[Request] = []
    features: list[Features] = []
    rejected: list[RecordRejected] = []
    for raw in raws:
        value = raw.value or b""
        if max_bytes is not None and len(value) > max_bytes:
            rejected.append(reject(raw, _too_large(len(value), max_bytes)))
            continue
        try:
            event = _decode_request(value)
            features.append(_decode_features(event.features))
        except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
            rejected.append(reject(raw, f"not a PredictionRequested: {exc}"))
            continue
        sources.append(raw)
        events.append(event)
    ids, valid = parse_uuids([event.event_id for event in events])
    batch = RequestBatch(sources, events, features, ids)
    if valid.all():
        return batch, rejected
    for row in np.flatnonzero(~valid).tolist():
        event_id = events[row].event_id
        rejected.append(batch.reject(row, f"not a PredictionRequested: {event_id!r} is not a UUID"))
    return batch.take(np.flatnonzero(valid).tolist()), rejected


def _too_large(size: int, max_bytes: int) -> str:
    return (
        f"a request of {size} bytes is over the {max_bytes}-byte limit: its prediction, which"
        " echoes its features, might not fit in a Kafka message"
    )
