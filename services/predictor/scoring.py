"""Turning a consumed batch of requests into predictions and rejections: no broker involved.

The hot path decodes and encodes with msgspec structs that mirror the contracts'
PredictionRequested and PredictionMade (same JSON, checked by the tests): pydantic costs more
per message than the whole onnxruntime call of a batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, Protocol

import msgspec

from contracts import RecordRejected, RejectionReason
from services.predictor.model import Columns, LoadedModel

log = logging.getLogger(__name__)

PREDICT_ERROR = "predict_error"
# Batches from this size on run inference in a worker thread (see score_requests_beside_loop).
OFFLOAD_FROM = 256


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


class Request(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """contracts.PredictionRequested, decoded by msgspec."""

    record_id: str
    dataset: str
    features: dict[str, FeatureValue]
    kind: Literal["prediction.requested.v1"] = "prediction.requested.v1"
    event_id: uuid.UUID = msgspec.field(default_factory=uuid.uuid4)
    occurred_at: datetime = msgspec.field(default_factory=lambda: datetime.now(UTC))


class Prediction(msgspec.Struct, frozen=True):
    """contracts.PredictionMade, encoded by msgspec."""

    record_id: str
    request_event_id: uuid.UUID
    model_name: str
    model_version: int
    prediction: float
    features: dict[str, FeatureValue]
    occurred_at: datetime
    event_id: str  # a UUID's text, see prediction_id
    kind: Literal["prediction.made.v1"] = "prediction.made.v1"


_decode_request = msgspec.json.Decoder(Request).decode
encode_json = msgspec.json.Encoder().encode


class ParsedRequest(msgspec.Struct, frozen=True):
    """A decoded request and where it came from (a msgspec struct: one is made per record,
    and frozen dataclasses cost several times more to build)."""

    raw: Consumed
    event: Request


@dataclass
class ScoredBatch:
    predictions: list[Prediction] = field(default_factory=list)
    rejections: list[RecordRejected] = field(default_factory=list)
    inference_seconds: float = 0.0


def reject(raw: Consumed, message: str, record_id: str | None = None) -> RecordRejected:
    """A RecordRejected for one request that could not be parsed or scored."""
    log.warning("predictor: rejected %s@%s:%s: %s", raw.topic, raw.partition, raw.offset, message)
    return RecordRejected(
        record_id=record_id,
        source=raw.topic,
        partition=raw.partition,
        offset=raw.offset,
        original=(raw.value or b"").decode("utf-8", errors="replace"),
        reasons=(RejectionReason(field=None, rule=PREDICT_ERROR, message=message),),
    )


def parse_requests(raws: Sequence[Consumed]) -> tuple[list[ParsedRequest], list[RecordRejected]]:
    """PredictionRequested events of the batch, and a rejection for each one that is not."""
    parsed: list[ParsedRequest] = []
    rejected: list[RecordRejected] = []
    for raw in raws:
        try:
            parsed.append(ParsedRequest(raw, _decode_request(raw.value or b"")))
        except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
            rejected.append(reject(raw, f"not a PredictionRequested: {exc}"))
    return parsed, rejected


def score_requests(model: LoadedModel, requests: Sequence[ParsedRequest]) -> ScoredBatch:
    """Score every scorable request with `model` in one call; reject the others one by one."""
    batch = ScoredBatch()
    scorable, columns = _scorable(model, requests, batch)
    started = time.perf_counter()
    values = _predict(model, scorable, columns, batch)
    batch.inference_seconds = time.perf_counter() - started
    _collect(model, values, batch)
    return batch


async def score_requests_beside_loop(
    model: LoadedModel, requests: Sequence[ParsedRequest], *, offload_from: int = OFFLOAD_FROM
) -> ScoredBatch:
    """`score_requests`, with a large batch's inference in a worker thread: onnxruntime lets go
    of the GIL, so the event loop keeps sending the previous batch's results meanwhile."""
    batch = ScoredBatch()
    scorable, columns = _scorable(model, requests, batch)
    started = time.perf_counter()
    if len(scorable) >= offload_from:
        values = await asyncio.to_thread(_predict, model, scorable, columns, batch)
    else:  # a thread hop costs more than scoring a few rows
        values = _predict(model, scorable, columns, batch)
    batch.inference_seconds = time.perf_counter() - started
    _collect(model, values, batch)
    return batch


def _scorable(
    model: LoadedModel, requests: Sequence[ParsedRequest], batch: ScoredBatch
) -> tuple[list[ParsedRequest], Columns]:
    """The requests `model` can take, with their input columns; the others are rejected into
    `batch`. Whole-batch checks first: row by row only when some row is bad."""
    with contextlib.suppress(KeyError):  # a row lacks an input: find it below
        columns = model.columns([request.event.features for request in requests])
        if model.all_accepted(columns):
            return list(requests), columns
    scorable: list[ParsedRequest] = []
    for request in requests:
        problem = model.row_problem(request.event.features)
        if problem is None:
            scorable.append(request)
        else:
            batch.rejections.append(_reject_request(request, problem))
    return scorable, model.columns([request.event.features for request in scorable])


def _collect(
    model: LoadedModel, values: list[tuple[ParsedRequest, float]], batch: ScoredBatch
) -> None:
    now = datetime.now(UTC)  # one timestamp per batch: they are made by the same call
    for request, value in values:
        if math.isfinite(value):
            batch.predictions.append(_prediction(model, request, value, now))
        else:
            batch.rejections.append(_reject_request(request, f"model predicted {value}"))


def _predict(
    model: LoadedModel, requests: list[ParsedRequest], columns: Columns, batch: ScoredBatch
) -> list[tuple[ParsedRequest, float]]:
    """One session.run for the batch; if it fails, row by row, so one bad row fails alone."""
    try:
        values = model.predict_columns(columns, len(requests))
        return list(zip(requests, values.tolist(), strict=True))
    except Exception as exc:  # onnxruntime raises several types; isolate the culprits below
        log.warning("predictor: batch of %d failed (%s); scoring row by row", len(requests), exc)
    scored: list[tuple[ParsedRequest, float]] = []
    for request in requests:
        try:
            scored.append((request, float(model.predict([request.event.features])[0])))
        except Exception as exc:
            batch.rejections.append(_reject_request(request, f"scoring failed: {exc}"))
    return scored


def _prediction(
    model: LoadedModel, request: ParsedRequest, value: float, now: datetime
) -> Prediction:
    event = request.event
    return Prediction(
        record_id=event.record_id,
        request_event_id=event.event_id,
        model_name=model.name,
        model_version=model.version,
        prediction=value,
        features=event.features,
        occurred_at=now,
        event_id=prediction_id(event.event_id, model),
    )


def prediction_id(request_event_id: uuid.UUID, model: LoadedModel) -> str:
    """The same request scored again by the same model version (a redelivery after a crash)
    gets the same event id, so consumers can drop the duplicate.

    The request's id XOR the model's 128-bit mask (a hash of name, version and sha256), laid
    out as a version-5 UUID and written as text directly: distinct per request and model, and
    cheaper than hashing per record or building uuid.UUID objects, which cost more than
    scoring the record.
    """
    h = f"{request_event_id.int ^ model.id_mask:032x}"
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


# RFC 4122 variant bits (10xx) over the hash's nibble at the variant position.
_VARIANT = {f"{n:x}": f"{(n & 0x3) | 0x8:x}" for n in range(16)}


def _reject_request(request: ParsedRequest, message: str) -> RecordRejected:
    return reject(request.raw, message, record_id=request.event.record_id)
