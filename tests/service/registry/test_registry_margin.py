from collections.abc import AsyncIterator

import httpx
import pytest
from faststream.kafka import TestKafkaBroker

from services.registry.app import create_app
from services.registry.config import Settings
from tests.service.registry.registry_harness import Registry, capture_models_topic
from tests.unit.registry.registry_samples import make_card, make_onnx


@pytest.fixture
async def strict_registry(settings: Settings) -> AsyncIterator[Registry]:
    settings = settings.model_copy(update={"promotion_margin": 0.2})
    app = create_app(settings)
    captured = capture_models_topic(app, settings)
    async with (
        TestKafkaBroker(app.state.broker),
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://r") as client,
    ):
        yield Registry(app, client, captured, settings)


async def test_a_small_gain_does_not_beat_the_margin(strict_registry: Registry) -> None:
    await strict_registry.upload(make_card(rmse=10.0), make_onnx())
    slightly_better = await strict_registry.upload(make_card(rmse=9.0), make_onnx((1.0, 1.0)))
    assert slightly_better.json()["aliases"] == ["challenger"]
    clearly_better = await strict_registry.upload(make_card(rmse=7.0), make_onnx((2.0, 2.0)))
    assert clearly_better.json()["aliases"] == ["champion"]
    promotions = [e for e in strict_registry.captured.events if e.kind == "model.promoted.v1"]
    assert [e.version for e in promotions] == [1, 3]
