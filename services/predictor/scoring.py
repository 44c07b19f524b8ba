"""Turning a consumed batch of requests into predictions and rejections: no broker involved."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from pydantic import ValidationError

from contracts import PredictionMade, PredictionRequested, RecordRejected, RejectionReason
from services.predictor.model import LoadedModel

log = logging.getLogger(__name__)

PREDICT_ERROR = "predict_error"


@dataclass(frozen=True)
class RawRequest:
    """One consumed record: its bytes and where it came from (for the rejected topic)."""

    value: bytes
    topic: str
    partition: int | None = None
    offset: int | None = None


@dataclass(frozen=True)
class ParsedRequest:
    raw: RawRequest
    event: PredictionRequested


@dataclass
class ScoredBatch:
    predictions: list[PredictionMade] = field(default_factory=list)
    rejections: list[RecordRejected] = field(default_factory=list)
    inference_seconds: float = 0.0


def reject(raw: RawRequest, message: str, record_id: str | None = None) -> RecordRejected:
    """A RecordRejected for one request that could not be parsed or scored."""
    log.warning("predictor: rejected %s@%s:%s: %s", raw.topic, raw.partition, raw.offset, message)
    return RecordRejected(
        record_id=record_id,
        source=raw.topic,
        partition=raw.partition,
        offset=raw.offset,
        original=raw.value.decode("utf-8", errors="replace"),
        reasons=(RejectionReason(field=None, rule=PREDICT_ERROR, message=message),),
    )


def parse_requests(raws: Sequence[RawRequest]) -> tuple[list[ParsedRequest], list[RecordRejected]]:
    """PredictionRequested events of the batch, and a rejection for each one that is not."""
    parsed: list[ParsedRequest] = []
    rejected: list[RecordRejected] = []
    for raw in raws:
        try:
            parsed.append(ParsedRequest(raw, PredictionRequested.model_validate_json(raw.value)))
        except ValidationError as exc:
            rejected.append(reject(raw, f"not a PredictionRequested: {_short(exc)}"))
    return parsed, rejected


def score_requests(model: LoadedModel, requests: Sequence[ParsedRequest]) -> ScoredBatch:
    """Score every scorable request with `model` in one call; reject the others one by one."""
    batch = ScoredBatch()
    scorable: list[ParsedRequest] = []
    for request in requests:
        problem = model.row_problem(request.event.features)
        if problem is None:
            scorable.append(request)
        else:
            batch.rejections.append(_reject_request(request, problem))
    started = time.perf_counter()
    values = _predict(model, scorable, batch)
    batch.inference_seconds = time.perf_counter() - started
    for request, value in values:
        if math.isfinite(value):
            batch.predictions.append(_prediction(model, request, value))
        else:
            batch.rejections.append(_reject_request(request, f"model predicted {value}"))
    return batch


def _predict(
    model: LoadedModel, requests: list[ParsedRequest], batch: ScoredBatch
) -> list[tuple[ParsedRequest, float]]:
    """One session.run for the batch; if it fails, row by row, so one bad row fails alone."""
    try:
        values = model.predict([r.event.features for r in requests])
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


def _prediction(model: LoadedModel, request: ParsedRequest, value: float) -> PredictionMade:
    event = request.event
    return PredictionMade(
        record_id=event.record_id,
        request_event_id=event.event_id,
        model_name=model.name,
        model_version=model.version,
        prediction=value,
        features=event.features,
    )


def _reject_request(request: ParsedRequest, message: str) -> RecordRejected:
    return reject(request.raw, message, record_id=request.event.record_id)


def _short(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}" for e in exc.errors()
    )
