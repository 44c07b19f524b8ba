"""A consumed batch split by data set: each part scored by its own data set's champion.

Each part keeps its records in their batch order, so the records of one id (one data set) stay
in order. A record of a data set the predictor serves no model for is dead-lettered with rule
`dataset` (after one short wait for a data set met for the first time): it must neither be
lost nor hold up the others.
"""

from __future__ import annotations

import asyncio
import logging
import operator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from services.predictor.scoring import ScoredBatch, score_requests_beside_loop
from services.predictor.shadow import shadow_score_beside_loop

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from contracts import RecordRejected
    from services.predictor.model import LoadedModel
    from services.predictor.request_batch import RequestBatch
    from services.predictor.scoring import Result
    from services.predictor.serving import Serving
    from services.predictor.servings import Servings

log = logging.getLogger(__name__)

DATASET_RULE = "dataset"

ShadowScored = tuple[list["Result"], int]  # the challenger's predictions, and its failures
Served = list[tuple["Serving", "RequestBatch"]]  # each data set's Serving and its requests

_dataset_of = operator.attrgetter("dataset")


@dataclass(frozen=True)
class ScoringPart:
    """One data set's requests of a batch, with its champion, scoring since the part started."""

    model: LoadedModel
    requests: RequestBatch
    scored: asyncio.Future[ScoredBatch]
    shadowed: asyncio.Future[ShadowScored] | None  # the challenger's, if there is one


async def by_dataset(
    batch: RequestBatch, servings: Servings, wait_seconds: float
) -> tuple[Served, list[RecordRejected]]:
    """Each served data set's requests with its Serving, and a rejection for every request of
    a data set no model serves here (after `wait_seconds` for one first seen, see
    Servings.arriving)."""
    split = _split(batch)
    found = [servings.for_dataset(dataset) for dataset, _ in split]
    if None in found:  # rare: not on the path of every batch
        waits = (servings.arriving(dataset, wait_seconds) for dataset, _ in split)
        found = list(await asyncio.gather(*waits))
    served: Served = []
    rejected: list[RecordRejected] = []
    for (dataset, requests), serving in zip(split, found, strict=True):
        if serving is not None:
            served.append((serving, requests))
        else:
            rejected.extend(_unknown(requests, dataset))
    return served, rejected


def _split(batch: RequestBatch) -> list[tuple[str, RequestBatch]]:
    """The batch's requests by data set, in the order data sets first appear."""
    datasets = list(map(_dataset_of, batch.events))
    if len(set(datasets)) <= 1:  # the usual case, one pass in C
        return [(datasets[0], batch)] if datasets else []
    rows: dict[str, list[int]] = {}
    for row, dataset in enumerate(datasets):
        rows.setdefault(dataset, []).append(row)
    return [(dataset, batch.take(taken)) for dataset, taken in rows.items()]


def _unknown(requests: RequestBatch, dataset: str) -> list[RecordRejected]:
    message = (
        f"unknown data set {dataset!r}: no model serves it here (its spec is not registered,"
        " or its name cannot name a model)"
    )
    return [requests.reject(row, message, rule=DATASET_RULE) for row in range(len(requests))]


async def champions(served: Served, timeout_seconds: float) -> list[LoadedModel] | None:
    """Each part's champion, waiting for those not loaded yet; None if one does not come in
    time (the whole batch is then handed back, to be consumed again)."""
    holders = [serving.champion.holder for serving, _ in served]
    loaded = [holder.current for holder in holders]
    if None not in loaded:
        return [model for model in loaded if model is not None]
    try:
        waits = (holder.wait_ready() for holder in holders)
        return list(await asyncio.wait_for(asyncio.gather(*waits), timeout_seconds))
    except TimeoutError:
        missing = [s.model_name for s, _ in served if s.champion.holder.current is None]
        log.info("predictor: no champion of %s loaded yet; requests wait for one", missing)
        return None


def start_parts(
    served: Served, models: list[LoadedModel], shadow_fraction: float, executor: Executor
) -> list[ScoringPart]:
    """Start scoring each part with its champion (and a sample with its challenger)."""
    parts = []
    for (serving, requests), model in zip(served, models, strict=True):
        # Scoring starts now, beside the batches ahead of it; they are sent in order.
        scored = asyncio.ensure_future(score_requests_beside_loop(model, requests, executor))
        challenger = serving.challenger.holder.current
        shadowed = _start_shadow(challenger, requests, shadow_fraction, executor)
        parts.append(ScoringPart(model, requests, scored, shadowed))
    return parts


def _start_shadow(
    model: LoadedModel | None, requests: RequestBatch, fraction: float, executor: Executor
) -> asyncio.Future[ShadowScored] | None:
    if model is None or fraction <= 0:
        return None
    return asyncio.ensure_future(shadow_score_beside_loop(model, requests, fraction, executor))
