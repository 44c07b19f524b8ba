"""A registry app on a temp data dir, its broker in TestKafkaBroker, events captured."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from faststream.kafka import TestKafkaBroker

from services.common.settings import KafkaSettings
from services.registry.app import create_app
from services.registry.config import Settings
from tests.service.registry.registry_harness import TOKEN, Registry, capture_models_topic


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        token=TOKEN,
        data_dir=tmp_path / "registry",
        kafka=KafkaSettings(topic_prefix="test."),
        max_artifact_bytes=64 * 1024,
    )


@pytest.fixture
async def registry(settings: Settings) -> AsyncIterator[Registry]:
    app = create_app(settings)
    captured = capture_models_topic(app, settings)
    transport = httpx.ASGITransport(app=app)
    async with (
        TestKafkaBroker(app.state.broker),
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://registry") as client,
    ):
        yield Registry(app, client, captured, settings)
