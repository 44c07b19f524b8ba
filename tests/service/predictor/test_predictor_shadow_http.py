"""Shadow scoring of the challenger and refusal events, on the in-memory broker."""

from __future__ import annotations

from typing import Any

import pytest

from contracts import MODEL_EVENT, ModelRefused, ModelRegistered, PredictionMade
from tests.service.predictor.conftest import Predictor
from tests.service.predictor.test_predictor_service import _promoted, _requests, _send
from tests.unit.predictor.predictor_fixtures import FakeRegistry, model_version


@pytest.fixture
async def with_listeners(predictor: Predictor) -> tuple[list[PredictionMade], list[object]]:
    shadow: list[PredictionMade] = []
    model_events: list[object] = []

    @predictor.broker.subscriber(predictor.topics.predict_shadow)
    async def collect_shadow(event: PredictionMade) -> None:
        shadow.append(event)

    @predictor.broker.subscriber(predictor.topics.models)
    async def collect_models(body: dict[str, Any]) -> None:
        model_events.append(MODEL_EVENT.validate_python(body))

    # TestKafkaBroker is already running: subscribers added now must be started by hand.
    await predictor.broker.start()

    return shadow, model_events


async def test_a_challenger_shadow_scores_on_its_own_topic(
    predictor: Predictor,
    registry: FakeRegistry,
    onnx_v1: bytes,
    onnx_v2: bytes,
    with_listeners: tuple[list[PredictionMade], list[object]],
) -> None:
    shadow, _ = with_listeners
    registry.promote(model_version(1, onnx_v1), onnx_v1)
    await predictor.wait_for_version(1)
    v2 = model_version(2, onnx_v2)
    registry.set_challenger(v2, onnx_v2)
    event = ModelRegistered(
        model_name="house-prices", version=2, sha256=v2.sha256, metrics=v2.card.metrics
    )
    await predictor.broker.publish(event, predictor.topics.models)
    assert predictor.app.state.challenger_holder.current.version == 2

    requests = _requests(10)
    await _send(predictor, requests)
    assert [r.model_version for r in predictor.results] == [1] * 10
    assert [(s.record_id, s.model_version) for s in shadow] == [(r.record_id, 2) for r in requests]
    for champion, challenger in zip(predictor.results, shadow, strict=True):
        assert challenger.prediction == pytest.approx(2 * champion.prediction, rel=1e-4)
    sample = 'mlbus_predictor_shadow_predictions_total{model="house-prices",version="2"}'
    assert await predictor.metric(sample) == 10

    # The challenger is promoted: the registry unsets the alias, shadow scoring stops.
    registry.promote(v2, onnx_v2)
    registry.set_challenger(None)
    await predictor.broker.publish(_promoted(2, v2.sha256, 1), predictor.topics.models)
    await _send(predictor, _requests(3, seed=9))
    assert [r.model_version for r in predictor.results[10:]] == [2, 2, 2]
    assert len(shadow) == 10
    assert (
        await predictor.metric('mlbus_predictor_swaps_total{alias="champion",model="house-prices"}')
        == 2
    )


async def test_a_refused_champion_is_announced_on_the_models_topic(
    predictor: Predictor,
    registry: FakeRegistry,
    onnx_v1: bytes,
    with_listeners: tuple[list[PredictionMade], list[object]],
) -> None:
    _, model_events = with_listeners
    registry.promote(model_version(1, onnx_v1), onnx_v1)
    await predictor.wait_for_version(1)
    corrupt = b"garbage bytes"
    registry.promote(model_version(2, corrupt), corrupt)
    await predictor.broker.publish(
        _promoted(2, model_version(2, corrupt).sha256, 1), predictor.topics.models
    )
    refused = [e for e in model_events if isinstance(e, ModelRefused)]
    assert [(e.version, e.refused_by) for e in refused] == [(2, "predictor")]
    assert predictor.holder.current is not None
    assert predictor.holder.current.version == 1
    await _send(predictor, _requests(2))
    assert [r.model_version for r in predictor.results] == [1, 1]
