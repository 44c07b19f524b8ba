"""The predictor app on faststream's in-memory broker, with an in-memory registry."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from faststream.kafka import KafkaBroker, TestKafkaBroker

from contracts import PREDICTION_RESULT, ClassificationMade, PredictionMade, RecordRejected, Topics
from services.common.settings import KafkaSettings
from services.predictor.app import create_app
from services.predictor.config import Settings
from services.predictor.serving import ModelHolder
from tests.unit.predictor.predictor_fixtures import FakeRegistry, tiny_model_bytes


@pytest.fixture(scope="session")
def onnx_v1() -> bytes:
    return tiny_model_bytes()


@pytest.fixture(scope="session")
def onnx_v2() -> bytes:
    return tiny_model_bytes(price_scale=2.0)


@pytest.fixture
def settings(topic_prefix: str) -> Settings:
    # topic_prefix (tests/conftest.py) gives each test its own topics and consumer groups. The
    # in-memory broker has no specs topic to read: tests teach app.state.catalogue directly.
    kafka = KafkaSettings(topic_prefix=topic_prefix, follow_specs=False)
    return Settings(kafka=kafka, poll_seconds=0.02)


@pytest.fixture
def registry() -> FakeRegistry:
    return FakeRegistry()


@dataclass
class Predictor:
    """The running app, its test broker, and what it published."""

    app: FastAPI
    broker: KafkaBroker
    http: httpx.AsyncClient
    topics: Topics
    results: list[PredictionMade] = field(default_factory=list)
    classified: list[ClassificationMade] = field(default_factory=list)  # a classifier's results
    rejected: list[RecordRejected] = field(default_factory=list)

    @property
    def holder(self) -> ModelHolder:
        holder: ModelHolder = self.app.state.model_holder
        return holder

    async def metric(self, sample: str) -> float:
        text = (await self.http.get("/metrics")).text
        for line in text.splitlines():
            if line.startswith(sample + " "):
                return float(line.split()[-1])
        raise AssertionError(f"{sample} not in /metrics")

    async def metric_total(self, name: str) -> float:
        """The sum of metric `name` over all its labels (0 when none is exported yet)."""
        text = (await self.http.get("/metrics")).text
        samples = [line for line in text.splitlines() if line.startswith((name + " ", name + "{"))]
        return sum(float(line.split()[-1]) for line in samples)

    async def wait_for_version(self, version: int, timeout: float = 5.0) -> None:
        async def loaded() -> None:
            while (model := self.holder.current) is None or model.version != version:
                await asyncio.sleep(0.01)

        await asyncio.wait_for(loaded(), timeout)


@pytest.fixture
async def predictor(settings: Settings, registry: FakeRegistry) -> AsyncIterator[Predictor]:
    app = create_app(settings, registry_client=registry, in_memory=True)
    broker: KafkaBroker = app.state.broker
    topics = settings.kafka.topics
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://predictor") as http:
        service = Predictor(app, broker, http, topics)

        @broker.subscriber(topics.predict_results)
        async def collect_result(body: dict[str, Any]) -> None:
            event = PREDICTION_RESULT.validate_python(body)
            if isinstance(event, PredictionMade):
                service.results.append(event)
            else:
                service.classified.append(event)

        @broker.subscriber(topics.rejected)
        async def collect_rejected(event: RecordRejected) -> None:
            service.rejected.append(event)

        async with TestKafkaBroker(broker), app.router.lifespan_context(app):
            yield service
