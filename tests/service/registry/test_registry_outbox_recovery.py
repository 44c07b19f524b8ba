import asyncio

import httpx
from faststream.kafka import TestKafkaBroker

from services.registry.app import create_app
from services.registry.config import Settings
from tests.service.registry.registry_harness import TOKEN, capture_models_topic
from tests.unit.registry.registry_samples import make_card, make_onnx


async def test_events_queued_while_the_broker_is_down_go_out_when_it_is_up(
    settings: Settings,
) -> None:
    settings = settings.model_copy(update={"publish_timeout_seconds": 0.5})
    app = create_app(settings)
    captured = capture_models_topic(app, settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://registry") as client:
        # The broker was never started: the upload is stored and its events wait in the outbox.
        response = await client.post(
            "/models/house-prices/versions",
            files={"artifact": ("model.onnx", make_onnx())},
            data={"card": make_card().model_dump_json()},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
    assert response.status_code == 201
    assert len(app.state.store.pending_events()) == 2
    assert captured.events == []

    async with TestKafkaBroker(app.state.broker), app.router.lifespan_context(app):
        # An event is out once it is marked published (the handler sees it just before that).
        async with asyncio.timeout(5):
            while app.state.store.pending_events():
                await asyncio.sleep(0.01)
    assert [e.kind for e in captured.events] == ["model.registered.v1", "model.promoted.v1"]
