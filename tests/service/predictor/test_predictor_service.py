"""The predictor service on the in-memory broker: requests in, predictions out, hot reloads."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from contracts import ModelPromoted, ModelRegistered, ModelRolledBack, PredictionRequested
from mlbus.datagen import RecordGenerator
from tests.service.predictor.conftest import Predictor
from tests.unit.predictor.predictor_fixtures import FakeRegistry, model_version


def _requests(count: int, seed: int = 3) -> list[PredictionRequested]:
    records = RecordGenerator(seed=seed, id_prefix=f"s{seed}").records(count, labelled=False)
    return [
        PredictionRequested(record_id=r.pop("record_id"), dataset="house-prices", features=r)
        for r in records
    ]


async def _send(predictor: Predictor, requests: list[PredictionRequested]) -> None:
    await predictor.broker.publish_batch(*requests, topic=predictor.topics.predict_requests)


def _promoted(version: int, sha: str, previous: int | None = None) -> ModelPromoted:
    return ModelPromoted(
        model_name="house-prices",
        version=version,
        sha256=sha,
        previous_version=previous,
        reason="better holdout rmse",
    )


async def test_startup_loads_the_champion_and_becomes_ready(
    predictor: Predictor, registry: FakeRegistry, onnx_v1: bytes
) -> None:
    assert (await predictor.http.get("/readyz")).status_code == 503
    registry.promote(model_version(1, onnx_v1), onnx_v1)  # the registry gets its first model
    await predictor.wait_for_version(1)
    readyz = await predictor.http.get("/readyz")
    assert readyz.status_code == 200
    assert readyz.json()["ready"] is True
    assert (await predictor.http.get("/model")).json()["version"] == 1
    assert await predictor.metric('mlbus_predictor_model_version{model="house-prices"}') == 1


async def test_requests_become_predictions_naming_the_model_version(
    predictor: Predictor, registry: FakeRegistry, onnx_v1: bytes
) -> None:
    registry.promote(model_version(1, onnx_v1), onnx_v1)
    await predictor.wait_for_version(1)
    requests = _requests(25)
    await _send(predictor, requests)

    assert [r.record_id for r in predictor.results] == [r.record_id for r in requests]
    model = predictor.holder.current
    assert model is not None
    expected = model.predict([r.features for r in requests])
    for request, result, value in zip(requests, predictor.results, expected, strict=True):
        assert (result.model_name, result.model_version) == ("house-prices", 1)
        assert result.request_event_id == request.event_id
        assert result.features == request.features
        assert result.prediction == pytest.approx(float(value))
    assert predictor.rejected == []
    sample = 'mlbus_predictor_predictions_total{model="house-prices",version="1"}'
    assert await predictor.metric(sample) == 25
    assert await predictor.metric("mlbus_predictor_batch_size_sum") == 25


async def test_bad_requests_go_to_rejected_and_the_rest_of_the_batch_is_scored(
    predictor: Predictor, registry: FakeRegistry, onnx_v1: bytes
) -> None:
    registry.promote(model_version(1, onnx_v1), onnx_v1)
    await predictor.wait_for_version(1)
    good = _requests(2)
    no_area = PredictionRequested(
        record_id="no-area", dataset="house-prices", features={"furnishingstatus": "furnished"}
    )
    await predictor.broker.publish_batch(
        good[0], b"\xff{garbage", no_area, good[1], topic=predictor.topics.predict_requests
    )
    assert [r.record_id for r in predictor.results] == [good[0].record_id, good[1].record_id]
    assert sorted((r.record_id or "") for r in predictor.rejected) == ["", "no-area"]
    assert {r.reasons[0].rule for r in predictor.rejected} == {"predict_error"}
    # The garbage names no data set (model=""); the request without its area is the model's.
    assert await predictor.metric('mlbus_predictor_rejected_total{model=""}') == 1
    assert await predictor.metric('mlbus_predictor_rejected_total{model="house-prices"}') == 1


async def test_requests_wait_for_the_first_model_instead_of_being_dropped(
    predictor: Predictor, registry: FakeRegistry, onnx_v1: bytes
) -> None:
    requests = _requests(3)
    sending = asyncio.create_task(_send(predictor, requests))
    await asyncio.sleep(0.1)
    assert not sending.done()
    assert predictor.results == []
    registry.promote(model_version(1, onnx_v1), onnx_v1)
    await predictor.broker.publish(
        _promoted(1, model_version(1, onnx_v1).sha256), predictor.topics.models
    )
    await asyncio.wait_for(sending, 5)
    assert [(r.record_id, r.model_version) for r in predictor.results] == [
        (r.record_id, 1) for r in requests
    ]


async def test_a_promotion_event_swaps_in_the_new_champion(
    predictor: Predictor, registry: FakeRegistry, onnx_v1: bytes, onnx_v2: bytes
) -> None:
    registry.promote(model_version(1, onnx_v1), onnx_v1)
    await predictor.wait_for_version(1)
    await _send(predictor, _requests(1, seed=5))

    v2 = model_version(2, onnx_v2)
    registry.promote(v2, onnx_v2)
    await predictor.broker.publish(_promoted(2, v2.sha256, previous=1), predictor.topics.models)
    assert predictor.holder.current is not None
    assert predictor.holder.current.version == 2
    await _send(predictor, _requests(1, seed=5))

    first, second = predictor.results
    assert (first.model_version, second.model_version) == (1, 2)
    assert second.prediction == pytest.approx(2 * first.prediction, rel=1e-4)
    assert (
        await predictor.metric(
            'mlbus_predictor_model_loads_total{model="house-prices",outcome="loaded"}'
        )
        == 2
    )


async def test_a_rollback_event_reloads_and_a_bad_promotion_is_refused(
    predictor: Predictor, registry: FakeRegistry, onnx_v1: bytes, onnx_v2: bytes
) -> None:
    v1, v2 = model_version(1, onnx_v1), model_version(2, onnx_v2)
    registry.promote(v2, onnx_v2)
    await predictor.wait_for_version(2)

    registry.promote(v1, onnx_v1)
    rollback = ModelRolledBack(
        model_name="house-prices",
        version=1,
        sha256=v1.sha256,
        previous_version=2,
        reason="operator",
    )
    await predictor.broker.publish(rollback, predictor.topics.models)
    assert predictor.holder.current is not None
    assert predictor.holder.current.version == 1

    corrupt = b"not an onnx model"
    registry.promote(model_version(3, corrupt), corrupt)
    await predictor.broker.publish(
        _promoted(3, model_version(3, corrupt).sha256), predictor.topics.models
    )
    assert predictor.holder.current.version == 1  # still serving
    assert (
        await predictor.metric(
            'mlbus_predictor_model_loads_total{model="house-prices",outcome="refused"}'
        )
        == 1
    )


async def test_other_models_and_other_event_kinds_do_not_trigger_a_reload(
    predictor: Predictor, registry: FakeRegistry, onnx_v1: bytes, onnx_v2: bytes
) -> None:
    registry.promote(model_version(1, onnx_v1), onnx_v1)
    await predictor.wait_for_version(1)
    downloads = registry.downloads
    v2 = model_version(2, onnx_v2)
    registry.promote(v2, onnx_v2)  # champion moved, but no event concerns our model's champion
    topic = predictor.topics.models
    await predictor.broker.publish(
        ModelPromoted(model_name="other-model", version=7, sha256="a" * 64, reason="x"), topic
    )
    await predictor.broker.publish(
        ModelPromoted(
            model_name="house-prices", version=2, sha256=v2.sha256, alias="challenger", reason="x"
        ),
        topic,
    )
    await predictor.broker.publish(
        ModelRegistered(
            model_name="house-prices", version=2, sha256=v2.sha256, metrics=v2.card.metrics
        ),
        topic,
    )
    await predictor.broker.publish(b'{"kind": "model.unknown.v9"}', topic)
    assert registry.downloads == downloads
    assert predictor.holder.current is not None
    assert predictor.holder.current.version == 1


async def test_readyz_says_which_model_it_waits_for_and_since_when(
    predictor: Predictor, registry: FakeRegistry, onnx_v1: bytes
) -> None:
    waiting = await predictor.http.get("/readyz")
    assert waiting.status_code == 503
    model = waiting.json()["model"]
    assert model["model_name"] == "house-prices"
    assert model["version"] is None
    assert datetime.fromisoformat(model["waiting_since"]) <= datetime.now(UTC)
    assert "no champion of model 'house-prices'" in model["waiting_for"]

    registry.promote(model_version(1, onnx_v1), onnx_v1)
    await predictor.wait_for_version(1)
    serving = (await predictor.http.get("/readyz")).json()["model"]
    assert serving == {"model_name": "house-prices", "alias": "champion", "version": 1}
