"""The trainer app on faststream's in-memory broker, uploading to an in-process fake registry."""

from __future__ import annotations

import hashlib
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
import onnxruntime as ort
import pytest
from fastapi import FastAPI, File, Form, Header, HTTPException, Response, UploadFile
from faststream.kafka import KafkaBroker, TestKafkaBroker
from pydantic import BaseModel

from contracts import ModelCard, ModelVersion, Topics
from services.common.settings import KafkaSettings
from services.trainer.app import create_app
from services.trainer.config import Settings
from services.trainer.coordinator import TrainingCoordinator
from services.trainer.registry_client import RegistryClient
from tests.unit.trainer.trainer_samples import TOKEN, trainer_settings


class FakeRegistry:
    """The registry's upload route as a tiny ASGI app: token, multipart, card and ONNX checks."""

    def __init__(self, token: str = TOKEN) -> None:
        self.versions: list[tuple[bytes, ModelVersion]] = []
        self.app = FastAPI()

        @self.app.post("/models/{name}/versions", status_code=201)
        async def upload(
            name: str,
            artifact: Annotated[UploadFile, File()],
            card: Annotated[str, Form()],
            authorization: Annotated[str | None, Header()] = None,
        ) -> dict[str, Any]:
            if authorization != f"Bearer {token}":
                raise HTTPException(401, "bad token")
            data = await artifact.read()
            model_card = ModelCard.model_validate_json(card)
            if model_card.model_name != name:
                raise HTTPException(422, "name differs")
            ort.InferenceSession(data, providers=["CPUExecutionProvider"])  # must load
            version = ModelVersion(
                model_name=name,
                version=len(self.versions) + 1,
                sha256=hashlib.sha256(data).hexdigest(),
                size_bytes=len(data),
                created_at="2025-01-01T00:00:00Z",
                card=model_card,
            )
            self.versions.append((data, version))
            return version.model_dump(mode="json")

        @self.app.get("/models/{name}/aliases/champion")
        async def champion(name: str) -> dict[str, Any]:
            """The first version stays champion (enough for the trainer's comparison)."""
            if not self.versions or self.versions[0][1].model_name != name:
                raise HTTPException(404, "no champion")
            return self.versions[0][1].model_dump(mode="json")

        @self.app.get("/models/{name}/versions")
        async def versions(name: str) -> list[dict[str, Any]]:
            return [v.model_dump(mode="json") for _, v in self.versions if v.model_name == name]

        @self.app.get("/models/{name}/versions/{version}/artifact")
        async def artifact(name: str, version: int) -> Response:
            if not 1 <= version <= len(self.versions):
                raise HTTPException(404, "no such version")
            return Response(self.versions[version - 1][0], media_type="application/octet-stream")

    def transport(self) -> httpx.AsyncBaseTransport:
        return httpx.ASGITransport(app=self.app)


@dataclass
class Trainer:
    """The app under test, its test broker, the fake registry and an HTTP client."""

    app: FastAPI
    broker: KafkaBroker
    registry: FakeRegistry
    http: httpx.AsyncClient
    topics: Topics

    @property
    def coordinator(self) -> TrainingCoordinator:
        coordinator: TrainingCoordinator = self.app.state.coordinator
        return coordinator

    async def publish(self, events: list[BaseModel], topic: str) -> None:
        for event in events:
            key = getattr(event, "record_id", None)
            await self.broker.publish(event, topic, key=key.encode() if key else None)

    async def idle(self) -> None:
        await self.coordinator.runs.wait_idle()

    async def metric(self, sample: str) -> float:
        """One sample of /metrics, e.g. 'mlbus_trainer_runs_total{model="m",outcome="uploaded"}'."""
        for line in (await self.http.get("/metrics")).text.splitlines():
            if line.startswith(sample + " "):
                return float(line.rsplit(" ", 1)[1])
        return math.nan


def make_settings(topic_prefix: str, **overrides: Any) -> Settings:
    values = {"min_records": 100, "retrain_every": 10_000, "drift_records": 150} | overrides
    return trainer_settings(kafka=KafkaSettings(topic_prefix=topic_prefix), **values)


@pytest.fixture
def settings(topic_prefix: str, request: pytest.FixtureRequest) -> Settings:
    """Overrides come from indirect parametrisation; topic_prefix (tests/conftest.py) gives
    each test its own topics and consumer groups."""
    return make_settings(topic_prefix, **getattr(request, "param", {}))


@pytest.fixture
async def trainer(settings: Settings) -> AsyncIterator[Trainer]:
    registry = FakeRegistry()
    uploader = RegistryClient(
        "http://registry", settings.registry_token, transport=registry.transport()
    )
    app = create_app(settings, uploader=uploader)
    async with (
        TestKafkaBroker(app.state.broker) as broker,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        yield Trainer(app, broker, registry, http, settings.kafka.topics)
        await app.state.coordinator.runs.close()
