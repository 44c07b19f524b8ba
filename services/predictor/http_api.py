"""POST /predict: score one or many records synchronously with the serving champion."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import msgspec
from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from contracts import DatasetSpec
from contracts.events import Features
from services.predictor.request_batch import RawRequest, RequestBatch, encode_json
from services.predictor.scoring import Prediction, ScoredBatch, score_requests
from services.predictor.serving import ModelHolder

_HTTP_SOURCE = RawRequest(b"", "http")


class PredictRecord(BaseModel):
    """One record to score; `record_id` defaults to a fresh id."""

    model_config = ConfigDict(extra="forbid")

    record_id: str | None = None
    features: Features


class PredictResponse(BaseModel):
    """The results, each shaped as contracts.PredictionMade, and the records that failed."""

    model_name: str
    model_version: int
    predictions: list[dict[str, Any]]
    rejected: list[dict[str, Any]] = Field(default_factory=list)


def build_predict_router(holder: ModelHolder, spec: DatasetSpec, max_records: int) -> APIRouter:
    router = APIRouter(tags=["predictor"])

    @router.post("/predict")
    async def predict(body: PredictRecord | list[PredictRecord]) -> PredictResponse:
        """Score one record or a list with the champion (the same model Kafka requests get)."""
        records = body if isinstance(body, list) else [body]
        if len(records) > max_records:
            raise HTTPException(413, f"at most {max_records} records per request")
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
