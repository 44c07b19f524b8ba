"""Inference in the predictor's inference thread: the same results as on the caller's thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from contracts import PredictionRequested
from services.predictor.model import Columns, LoadedModel
from services.predictor.request_batch import RawRequest, RequestBatch, parse_requests
from services.predictor.scoring import Result, score_requests, score_requests_beside_loop
from services.predictor.shadow import shadow_score, shadow_score_beside_loop
from tests.unit.predictor.predictor_fixtures import CATEGORICAL, NUMERIC

THREAD = "test-inference"


class RecordsThread(LoadedModel):
    """A model that notes the thread each of its batches ran on, and can be made to fail."""

    def __init__(self, real: LoadedModel, *, fails: bool = False) -> None:
        super().__init__(real.name, real.version, real.sha256, real.session)
        self.threads: list[str] = []
        self.fails = fails

    def predict_columns(
        self, columns: Columns, count: int
    ) -> np.ndarray[Any, np.dtype[np.float64]]:
        self.threads.append(threading.current_thread().name)
        if self.fails:
            raise RuntimeError("the challenger broke")
        return super().predict_columns(columns, count)


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix=THREAD) as pool:
        yield pool


def _batch(count: int) -> RequestBatch:
    raws = [
        RawRequest(
            PredictionRequested(
                record_id=f"r{i}",
                dataset="house-prices",
                features={NUMERIC: 3000.0 + 100 * i, CATEGORICAL: "furnished"},
            )
            .model_dump_json()
            .encode(),
            "t.predict.requests.v1",
        )
        for i in range(count)
    ]
    batch, rejected = parse_requests(raws)
    assert rejected == []
    return batch


async def test_a_large_batch_is_scored_in_the_executor_as_it_would_be_inline(
    model_v1: LoadedModel, executor: ThreadPoolExecutor
) -> None:
    requests = _batch(8)
    model = RecordsThread(model_v1)
    beside = await score_requests_beside_loop(model, requests, executor, offload_from=4)
    inline = score_requests(model, requests)
    assert model.threads[0].startswith(THREAD)
    assert model.threads[1] == "MainThread"
    assert _content(beside.predictions) == _content(inline.predictions)
    assert beside.inference_seconds > 0


def _content(predictions: list[Result]) -> list[tuple[Any, ...]]:
    """All but the time each was made."""
    return [
        (
            p.record_id,
            p.request_event_id,
            p.model_version,
            p.prediction,
            bytes(p.features),
            p.event_id,
        )
        for p in predictions
    ]


async def test_a_small_batch_is_scored_inline(
    model_v1: LoadedModel, executor: ThreadPoolExecutor
) -> None:
    model = RecordsThread(model_v1)
    scored = await score_requests_beside_loop(model, _batch(2), executor, offload_from=4)
    assert len(scored.predictions) == 2
    assert model.threads == ["MainThread"]


async def test_shadow_scoring_runs_in_the_executor_and_never_raises(
    model_v1: LoadedModel, executor: ThreadPoolExecutor
) -> None:
    requests = _batch(8)
    challenger = RecordsThread(model_v1)
    made, failed = await shadow_score_beside_loop(
        challenger, requests, 1.0, executor, offload_from=4
    )
    assert (len(made), failed) == (8, 0)
    assert challenger.threads[0].startswith(THREAD)
    assert [p.prediction for p in made] == [
        p.prediction for p in shadow_score(challenger, requests, 1.0)[0]
    ]
    broken = RecordsThread(model_v1, fails=True)
    made, failed = await shadow_score_beside_loop(broken, requests, 1.0, executor, offload_from=4)
    assert made == []
    assert failed == 8
