"""Scoring a batch of decoded requests with one model: predictions and rejections.

One onnxruntime call per batch; a request the model cannot take is rejected alone and the rest
of its batch is still scored. Predictions are msgspec structs that mirror the contract's
PredictionMade (same JSON, checked by the tests), echoing each request's features as they came.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import msgspec
import numpy as np

from services.predictor.event_ids import Bytes16, derived_ids

if TYPE_CHECKING:
    from collections.abc import Callable
    from concurrent.futures import Executor

    from contracts import RecordRejected
    from services.predictor.classes import ClassRule
    from services.predictor.model import Columns, LoadedModel
    from services.predictor.request_batch import RequestBatch

log = logging.getLogger(__name__)

# Batches from this size on run inference in a worker thread (see score_requests_beside_loop).
OFFLOAD_FROM = 256

Values = np.ndarray[Any, np.dtype[np.float64]]
ResultT = TypeVar("ResultT")


class Prediction(msgspec.Struct, frozen=True, gc=False):
    """contracts.PredictionMade, encoded by msgspec (not tracked by the collector: no cycles)."""

    record_id: str
    request_event_id: str  # a UUID's text
    model_name: str
    model_version: int
    prediction: float
    features: msgspec.Raw  # the request's, as it came
    occurred_at: datetime
    event_id: str  # a UUID's text, see prediction_ids
    kind: Literal["prediction.made.v1"] = "prediction.made.v1"


class Classification(msgspec.Struct, frozen=True, gc=False):
    """contracts.ClassificationMade, encoded by msgspec: the class and every class's
    probability (in the spec's class order); `threshold` is None for a multiclass model."""

    record_id: str
    request_event_id: str
    model_name: str
    model_version: int
    prediction: str
    probabilities: dict[str, float]
    threshold: float | None
    features: msgspec.Raw
    occurred_at: datetime
    event_id: str
    kind: Literal["classification.made.v1"] = "classification.made.v1"


Result = Prediction | Classification  # what a model makes of one request


@dataclass
class ScoredBatch:
    predictions: list[Result] = field(default_factory=list)
    rejections: list[RecordRejected] = field(default_factory=list)
    inference_seconds: float = 0.0


def score_requests(model: LoadedModel, requests: RequestBatch) -> ScoredBatch:
    """Score every scorable request with `model` in one call; reject the others one by one."""
    scored = ScoredBatch()
    scorable, columns = _scorable(model, requests, scored)
    _collect(model, *_timed_predict(model, scorable, columns, scored), scored)
    return scored


async def score_requests_beside_loop(
    model: LoadedModel,
    requests: RequestBatch,
    executor: Executor | None = None,
    *,
    offload_from: int = OFFLOAD_FROM,
) -> ScoredBatch:
    """`score_requests`, with a large batch's inference in `executor`'s thread: onnxruntime lets
    go of the GIL, so the event loop keeps sending other batches' results meanwhile."""
    scored = ScoredBatch()
    scorable, columns = _scorable(model, requests, scored)
    predicted = await beside_loop(
        executor, len(scorable), offload_from, _timed_predict, model, scorable, columns, scored
    )
    _collect(model, *predicted, scored)
    return scored


async def beside_loop(
    executor: Executor | None,
    rows: int,
    offload_from: int,
    work: Callable[..., ResultT],
    *args: Any,
) -> ResultT:
    """`work(*args)` in `executor`'s thread when it covers at least `offload_from` rows, on the
    caller's thread otherwise: a thread hop costs more than scoring a few rows."""
    if rows < offload_from:
        return work(*args)
    return await asyncio.get_running_loop().run_in_executor(executor, work, *args)


def prediction_ids(request_event_ids: Bytes16, model: LoadedModel) -> list[str]:
    """The same request scored again by the same model version (a redelivery after a crash)
    gets the same event id, so consumers can drop the duplicate.

    The request's id XOR the model's 128-bit mask (a hash of name, version and sha256), as a
    version-5 UUID: distinct per request and model, and computed for the whole batch at once
    (hashing per record, or uuid.UUID objects, cost more than scoring the record).
    """
    return derived_ids(request_event_ids, model.id_mask)


def _scorable(
    model: LoadedModel, requests: RequestBatch, scored: ScoredBatch
) -> tuple[RequestBatch, Columns]:
    """The requests `model` can take, with their input columns; the others are rejected into
    `scored`. Whole-batch checks first: row by row only when some row is bad."""
    with contextlib.suppress(KeyError):  # a row lacks an input: find it below
        columns = model.columns(requests.features)
        if model.all_accepted(columns):
            return requests, columns
    rows = []
    for row, features in enumerate(requests.features):
        problem = model.row_problem(features)
        if problem is None:
            rows.append(row)
        else:
            scored.rejections.append(requests.reject(row, problem))
    scorable = requests.take(rows)
    return scorable, model.columns(scorable.features)


def _timed_predict(
    model: LoadedModel, requests: RequestBatch, columns: Columns, scored: ScoredBatch
) -> tuple[RequestBatch, Values]:
    started = time.perf_counter()
    try:
        return _predict(model, requests, columns, scored)
    finally:
        scored.inference_seconds = time.perf_counter() - started


def _predict(
    model: LoadedModel, requests: RequestBatch, columns: Columns, scored: ScoredBatch
) -> tuple[RequestBatch, Values]:
    """One session.run for the batch; if it fails, row by row, so one bad row fails alone.
    Returns the requests that were scored and their values."""
    try:
        return requests, model.predict_columns(columns, len(requests))
    except Exception as exc:  # onnxruntime raises several types; isolate the culprits below
        log.warning("predictor: batch of %d failed (%s); scoring row by row", len(requests), exc)
    rows, values = [], []
    for row, features in enumerate(requests.features):
        try:
            values.append(model.predict([features])[0])
            rows.append(row)
        except Exception as exc:
            scored.rejections.append(requests.reject(row, f"scoring failed: {exc}"))
    shape = (-1,) if model.rule is None else (-1, len(model.rule.classes))  # also for no rows
    return requests.take(rows), np.array(values, dtype=np.float64).reshape(shape)


def _collect(
    model: LoadedModel, requests: RequestBatch, values: Values, scored: ScoredBatch
) -> None:
    """A result per row of finite values; a rejection for each other row."""
    finite = np.isfinite(values) if values.ndim == 1 else np.isfinite(values).all(axis=1)
    if not finite.all():
        for row in np.flatnonzero(~finite).tolist():
            scored.rejections.append(requests.reject(row, f"model predicted {values[row]}"))
        requests, values = requests.take(np.flatnonzero(finite).tolist()), values[finite]
    if model.rule is not None:
        scored.predictions = _classifications(model, model.rule, requests, values)
        return
    ids = prediction_ids(requests.event_ids, model)
    now = datetime.now(UTC)  # one timestamp per batch: they are made by the same call
    name, version = model.name, model.version
    scored.predictions = [
        # Positional: the fields in declaration order (keywords cost more, once per record).
        Prediction(event.record_id, event.event_id, name, version, value, event.features, now, id_)
        for event, value, id_ in zip(requests.events, values.tolist(), ids, strict=True)
    ]


def _classifications(
    model: LoadedModel, rule: ClassRule, requests: RequestBatch, probabilities: Values
) -> list[Result]:
    """A ClassificationMade per row: the rule's class and every class's probability."""
    ids = prediction_ids(requests.event_ids, model)
    now = datetime.now(UTC)
    name, version, classes, threshold = model.name, model.version, rule.classes, rule.threshold
    decided = rule.names(rule.decide(probabilities))
    return [
        Classification(
            event.record_id,
            event.event_id,
            name,
            version,
            label,
            dict(zip(classes, row, strict=True)),
            threshold,
            event.features,
            now,
            id_,
        )
        for event, label, row, id_ in zip(
            requests.events, decided, probabilities.tolist(), ids, strict=True
        )
    ]
