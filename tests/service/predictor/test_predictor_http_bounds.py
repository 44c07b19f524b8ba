"""POST /predict refuses what it cannot score or answer with a 4xx, never a 500: lone
surrogates, non-finite numbers, too many records, bodies over the limit."""

from __future__ import annotations

import json
import time

import pytest

from contracts import PredictionMade
from services.predictor.config import Settings
from tests.service.common.asgi_stream import chunks_of, stream_request
from tests.service.predictor.conftest import Predictor
from tests.unit.predictor.predictor_fixtures import FakeRegistry, model_version

JSON = {"content-type": "application/json"}
GOOD = {"area": 5000.0, "furnishingstatus": "furnished"}


@pytest.fixture
async def serving(predictor: Predictor, registry: FakeRegistry, onnx_v1: bytes) -> Predictor:
    registry.promote(model_version(1, onnx_v1), onnx_v1)
    await predictor.wait_for_version(1)
    return predictor


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ('{"record_id": "\\ud800", "features": {"area": 1}}', "$.record_id"),
        ('{"features": {"\\udc00rea": 1}}', "$.features (a key)"),
        (
            '[{"features": {"area": 1}}, {"features": {"furnishingstatus": "\\udfff"}}]',
            "$[1].features.furnishingstatus",
        ),
    ],
)
async def test_a_lone_surrogate_is_422_with_where_it_is(
    serving: Predictor, body: str, where: str
) -> None:
    response = await serving.http.post("/predict", content=body.encode(), headers=JSON)
    assert response.status_code == 422, response.text
    [issue] = response.json()["detail"]
    assert issue["loc"] == ["body", where]


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
async def test_a_non_finite_number_is_422(serving: Predictor, number: str) -> None:
    body = f'{{"features": {{"area": {number}, "furnishingstatus": "furnished"}}}}'
    response = await serving.http.post("/predict", content=body.encode(), headers=JSON)
    assert response.status_code == 422, response.text
    assert "finite" in response.text


@pytest.mark.parametrize("number", [2**63, 2**64, 10**400, -(10**400)])
async def test_an_integer_beyond_any_float_is_answered_not_500(
    serving: Predictor, number: int
) -> None:
    body = (
        f'{{"record_id": "big", "features": {{"area": {number}, "furnishingstatus": "furnished"}}}}'
    )
    response = await serving.http.post("/predict", content=body.encode(), headers=JSON)
    assert response.status_code < 500, response.text
    if response.status_code == 200:
        answer = response.json()
        scored = [PredictionMade.model_validate(p) for p in answer["predictions"]]
        assert len(scored) + len(answer["rejected"]) == 1


async def test_one_record_too_many_is_413(serving: Predictor, settings: Settings) -> None:
    limit = settings.http_max_records
    body = [{"features": GOOD}] * (limit + 1)
    response = await serving.http.post("/predict", json=body)
    assert response.status_code == 413
    assert f"at most {limit} records" in response.json()["detail"]


async def test_a_body_at_the_size_limit_is_refused_quickly(
    serving: Predictor, settings: Settings
) -> None:
    element = b'{"features":{}},'
    limit = settings.http_max_body_bytes
    count = (limit - 2) // len(element)
    body = b"[" + element * count
    body = body[:-1] + b"]"
    started = time.perf_counter()
    response = await serving.http.post("/predict", content=body, headers=JSON)
    elapsed = time.perf_counter() - started
    assert response.status_code == 413
    print(f"{count:,} records in {len(body):,} bytes refused in {elapsed * 1000:.0f} ms")


async def test_a_declared_body_over_the_limit_is_refused_unread(
    serving: Predictor, settings: Settings
) -> None:
    limit = settings.http_max_body_bytes
    answer = await stream_request(
        serving.app,
        "POST",
        "/predict",
        chunks_of(64 * 1024, 1600),  # 100 MiB, made lazily
        {**JSON, "Content-Length": str(100 * 1024 * 1024)},
    )
    assert answer.status == 413
    assert answer.chunks_read == 0
    assert f"limit of {limit} bytes" in json.loads(answer.body)["detail"]


async def test_a_streamed_body_is_refused_at_its_limit(
    serving: Predictor, settings: Settings
) -> None:
    limit = settings.http_max_body_bytes
    answer = await stream_request(serving.app, "POST", "/predict", chunks_of(65536, 1600), JSON)
    assert answer.status == 413
    assert answer.bytes_read == limit + 65536  # the first chunk past the limit
