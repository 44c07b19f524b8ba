"""The predictor's routes. POST /predict: score one or many records synchronously with the
serving champion of a data set (?dataset=, default the start-up one); GET /model: which
versions serve.

Records pass through the normaliser ingest uses (contracts.normalise) before they are scored,
so a record gets the same features, and the same prediction, here as through ingest and Kafka;
a record ingest would reject is refused here with the same reasons (422). The Kafka path does
not normalise again: its requests come from ingest, already normalised.
"""

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

from contracts import DatasetSpec, FeatureValue, RejectionReason
from contracts.events import Features
from contracts.normalise import Invalid, normalise_fields, record_id_text
from services.common.http import BodyLimit, problem_responses, refuse_lone_surrogates
from services.common.spec_catalogue import SpecCatalogue
from services.predictor.config import Settings
from services.predictor.request_batch import RawRequest, RequestBatch, encode_json
from services.predictor.scoring import OFFLOAD_FROM, Result, ScoredBatch, score_requests
from services.predictor.serving import ModelHolder, Serving
from services.predictor.servings import Servings

_HTTP_SOURCE = RawRequest(b"", "http")


class PredictRecord(BaseModel):
    """One record to score; `record_id` defaults to the spec's id field in `features`, or a
    fresh id. `features` are normalised and checked as ingest does; the target, if present,
    is checked and ignored."""

    # inf and NaN pass here: the normaliser refuses them with ingest's own reason ("finite").
    model_config = ConfigDict(extra="forbid")

    record_id: str | int | None = None
    features: Features


_RECORDS: TypeAdapter[PredictRecord | list[PredictRecord]] = TypeAdapter(
    PredictRecord | list[PredictRecord]
)


class PredictResponse(BaseModel):
    """The results, each shaped as contracts.PredictionMade (a classifier's as
    ClassificationMade: the class, every class's probability, the threshold), and the records
    that failed."""

    model_name: str
    model_version: int
    predictions: list[dict[str, Any]]
    rejected: list[dict[str, Any]] = Field(default_factory=list)


class RefusedRecord(BaseModel):
    """A record of the request that ingest would reject, with the same reasons."""

    index: int
    record_id: str | None
    reasons: list[RejectionReason]


Normalised = tuple[str, dict[str, FeatureValue]]


def normalise_records(
    records: Sequence[PredictRecord], spec: DatasetSpec
) -> tuple[list[Normalised], list[RefusedRecord]]:
    """Each record's id and normalised features, or why it is refused (all its reasons)."""
    normalised: list[Normalised] = []
    refused: list[RefusedRecord] = []
    for index, record in enumerate(records):
        given_id: object = record.record_id
        if given_id is None:
            given_id = record.features.get(spec.record_id_field)
        reasons: list[RejectionReason] = []
        record_id = _record_id(given_id, reasons)
        fields = normalise_fields(record.features, spec)
        reasons.extend(fields.reasons)
        if reasons:
            refused.append(RefusedRecord(index=index, record_id=record_id, reasons=reasons))
        else:
            normalised.append((record_id or uuid.uuid4().hex, fields.features))
    return normalised, refused


def _record_id(value: object, reasons: list[RejectionReason]) -> str | None:
    if value is None:
        return None
    try:
        return record_id_text(value)
    except Invalid as exc:
        reasons.append(RejectionReason(field="record_id", rule=exc.rule, message=exc.message))
        return None


def body_limits(max_body_bytes: int) -> Sequence[BodyLimit]:
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


def build_http_router(
    servings: Servings, catalogue: SpecCatalogue, settings: Settings
) -> APIRouter:
    """POST /predict with a data set's champion, then GET /model."""
    router = APIRouter(tags=["predictor"])
    _add_predict(router, servings, catalogue, settings.http_max_records)
    _add_model(router, servings)
    return router


def served_dataset(
    servings: Servings, catalogue: SpecCatalogue, dataset: str | None
) -> tuple[ModelHolder, DatasetSpec]:
    """The champion's holder and the current spec of `dataset` (None: the start-up data set);
    404 for a data set no model serves here."""
    name = dataset or servings.default_dataset
    serving, known = servings.for_dataset(name), catalogue.get(name)
    if serving is None or known is None:
        raise HTTPException(404, f"no model serves data set {name!r} here")
    return serving.champion.holder, known.spec


def _add_model(router: APIRouter, servings: Servings) -> None:
    @router.get("/model")
    async def serving_model() -> dict[str, object]:
        """Which model versions serve right now (champion, and challenger if shadow-scored);
        for a classifier also its classes and the threshold decisions take (binary). The
        start-up data set's model at the top level; every data set's under `models`."""
        models = [{"dataset": dataset} | served(s) for dataset, s in servings]
        return served(servings.default) | {"models": models}


def served(serving: Serving) -> dict[str, object]:
    """The versions one Serving serves (see GET /model)."""
    model, shadow = serving.champion.holder.current, serving.challenger.holder.current
    if model is None:
        return {"model_name": serving.model_name, "loaded": False}
    versions = {
        "model_name": model.name,
        "loaded": True,
        "version": model.version,
        "sha256": model.sha256,
        "challenger_version": shadow.version if shadow else None,
    }
    rule = model.rule
    if rule is None:
        return versions
    return versions | {"classes": list(rule.classes), "threshold": rule.threshold}


def _add_predict(
    router: APIRouter, servings: Servings, catalogue: SpecCatalogue, max_records: int
) -> None:

    @router.post(
        "/predict",
        responses=problem_responses(404, 413, 422, 503),
        openapi_extra=_body_doc(max_records),
    )
    async def predict(request: Request, dataset: str | None = None) -> PredictResponse:
        """Score one record or a list with the champion of `dataset` (default: the start-up
        data set), the same model its Kafka requests get.

        A request with a record that ingest would reject is refused whole (422), each such
        record named by its index with every reason."""
        holder, spec = served_dataset(servings, catalogue, dataset)
        records = await read_records(request, max_records)
        # Pure Python, about 70 us a record: a large request is normalised in a thread, so the
        # event loop (and the Kafka requests it serves) gets the GIL back every few ms.
        if len(records) < OFFLOAD_FROM:
            made, refused = normalise_records(records, spec)
        else:
            made, refused = await asyncio.to_thread(normalise_records, records, spec)
        if refused:
            detail = [r.model_dump(mode="json") for r in refused]
            raise HTTPException(422, {"message": "records ingest would reject", "rejected": detail})
        model = holder.current
        if model is None:
            raise HTTPException(503, "no model is loaded yet")
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


def _as_dict(prediction: Result) -> dict[str, Any]:
    """The PredictionMade (or, from a classifier, ClassificationMade) JSON object, ids and
    times as strings, as Kafka consumers get it."""
    result: dict[str, Any] = msgspec.json.decode(encode_json(prediction))
    return result
