"""POST /predict: score one or many records synchronously with the serving champion."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Sequence
from typing import Any

import msgspec
from fastapi import APIRouter, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from contracts import DatasetSpec
from contracts.events import Features
from services.common.http import BodyLimit, problem_responses, refuse_lone_surrogates
from services.predictor.request_batch import RawRequest, RequestBatch, encode_json
from services.predictor.scoring import Prediction, ScoredBatch, score_requests
from services.predictor.serving import ModelHolder

_HTTP_SOURCE = RawRequest(b"", "http")


class PredictRecord(BaseModel):
    """One record to score; `record_id` defaults to a fresh id."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    record_id: str | None = None
    features: Features


_RECORDS: TypeAdapter[PredictRecord | list[PredictRecord]] = TypeAdapter(
    PredictRecord | list[PredictRecord]
)


class PredictResponse(BaseModel):
    """The results, each shaped as contracts.PredictionMade, and the records that failed."""

    model_name: str
    model_version: int
    predictions: list[dict[str, Any]]
    rejected: list[dict[str, Any]] = Field(default_factory=list)


def predict_body_limits(max_body_bytes: int) -> Sequence[BodyLimit]:
    return (BodyLimit("POST", "/predict", max_body_bytes),)


def _body_doc(max_records: int) -> dict[str, Any]:
    record = PredictRecord.model_json_schema()
    many = {"type": "array", "items": record, "maxItems": max_records}
    schema = {"anyOf": [record, many]}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


async def read_records(request: Request, max_records: int) -> list[PredictRecord]:
    """The body's records: counted before they are validated one by one (413 over the limit;
    validating half a million tiny records took 13 s), then checked for lone surrogates."""
    raw = await request.body()
    try:
        decoded = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # bad UTF-8 and absurd nesting included
        issue = {"type": "json_invalid", "loc": ("body",), "msg": f"not valid JSON: {exc}"}
        raise RequestValidationError([issue]) from exc
    if isinstance(decoded, list) and len(decoded) > max_records:
        raise HTTPException(413, f"at most {max_records} records per request")
    refuse_lone_surrogates(raw, decoded)
    try:
        body = _RECORDS.validate_python(decoded)
    except ValidationError as exc:
        issues = exc.errors(include_url=False)
        raise RequestValidationError([{**i, "loc": ("body", *i["loc"])} for i in issues]) from exc
    return body if isinstance(body, list) else [body]


def build_predict_router(holder: ModelHolder, spec: DatasetSpec, max_records: int) -> APIRouter:
    router = APIRouter(tags=["predictor"])

    @router.post(
        "/predict",
        responses=problem_responses(413, 422, 503),
        openapi_extra=_body_doc(max_records),
    )
    async def predict(request: Request) -> PredictResponse:
        """Score one record or a list with the champion (the same model Kafka requests get)."""
        records = await read_records(request, max_records)
        model = holder.current
        if model is None:
            raise HTTPException(503, "no model is loaded yet")
        made = [(record.record_id or uuid.uuid4().hex, record.features) for record in records]
        parsed = RequestBatch.made_here(_HTTP_SOURCE, spec.name, made)
        scored: ScoredBatch = await asyncio.to_thread(score_requests, model, parsed)
        return PredictResponse(
            model_name=model.name,
            model_version=model.version,
            predictions=[_as_dict(p) for p in scored.predictions],
            rejected=[
                {"record_id": r.record_id, "reasons": [x.message for x in r.reasons]}
                for r in scored.rejections
            ],
        )

    return router


def _as_dict(prediction: Prediction) -> dict[str, Any]:
    """The PredictionMade JSON object (ids and times as strings), as Kafka consumers get it."""
    result: dict[str, Any] = msgspec.json.decode(encode_json(prediction))
    return result
