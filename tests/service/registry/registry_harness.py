"""Helpers of the registry service tests: event capture and an HTTP client wrapper."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
from fastapi import FastAPI
from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage

from contracts import MODEL_EVENT, ModelCard, ModelEvent, ModelRefused
from services.registry.app import create_app
from services.registry.config import Settings

TOKEN = "registry-test-token-5f0c2a9e8d7b4c13a6e1f0d9"


@dataclass
class Captured:
    """Events the registry published on the models topic, with their Kafka keys."""

    events: list[ModelEvent] = field(default_factory=list)
    keys: list[bytes | None] = field(default_factory=list)


def capture_models_topic(app: FastAPI, settings: Settings) -> Captured:
    captured = Captured()
    broker: KafkaBroker = app.state.broker

    @broker.subscriber(settings.kafka.topics.models)
    async def on_model_event(body: dict[str, object], message: KafkaMessage) -> None:
        record = message.raw_message
        assert not isinstance(record, tuple)  # one record per call: not a batch subscriber
        captured.events.append(MODEL_EVENT.validate_python(body))
        captured.keys.append(record.key)

    return captured


@dataclass
class Registry:
    app: FastAPI
    client: httpx.AsyncClient
    captured: Captured
    settings: Settings

    async def upload(
        self, card: ModelCard, artifact: bytes, *, name: str | None = None, token: str = TOKEN
    ) -> httpx.Response:
        return await self.client.post(
            f"/models/{name or card.model_name}/versions",
            files={"artifact": ("model.onnx", artifact, "application/octet-stream")},
            data={"card": card.model_dump_json()},
            headers={"Authorization": f"Bearer {token}"},
        )

    def refusals(self) -> list[ModelRefused]:
        return [e for e in self.captured.events if isinstance(e, ModelRefused)]

    def nothing_written(self) -> bool:
        """No version, no artifact file, no event but refusals: the registry is as it was."""
        artifact_dir = self.settings.artifact_dir
        return (
            self.app.state.store.list_models() == []
            and not any(artifact_dir.iterdir())
            and self.app.state.store.pending_events() == []
            and all(isinstance(e, ModelRefused) for e in self.captured.events)
        )

    async def metric(self, name: str) -> float:
        text = (await self.client.get("/metrics")).text
        for line in text.splitlines():
            if line.startswith(f"{name} "):
                return float(line.split()[1])
        raise AssertionError(f"metric {name} not exported")


@contextlib.asynccontextmanager
async def open_registry(settings: Settings) -> AsyncIterator[Registry]:
    """A registry app with `settings`, its broker in memory, an HTTP client on it."""
    app = create_app(settings)
    captured = capture_models_topic(app, settings)
    transport = httpx.ASGITransport(app=app)
    async with (
        TestKafkaBroker(app.state.broker),
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://registry") as client,
    ):
        yield Registry(app, client, captured, settings)
