"""Helpers of the registry service tests: event capture and an HTTP client wrapper."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx
from fastapi import FastAPI
from faststream.kafka.annotations import KafkaMessage

from contracts import MODEL_EVENT, ModelCard, ModelEvent
from services.registry.config import Settings

TOKEN = "test-registry-token"


@dataclass
class Captured:
    """Events the registry published on the models topic, with their Kafka keys."""

    events: list[ModelEvent] = field(default_factory=list)
    keys: list[bytes | None] = field(default_factory=list)


def capture_models_topic(app: FastAPI, settings: Settings) -> Captured:
    captured = Captured()

    @app.state.broker.subscriber(settings.kafka.topics.models)
    async def on_model_event(body: dict[str, object], message: KafkaMessage) -> None:
        captured.events.append(MODEL_EVENT.validate_python(body))
        captured.keys.append(message.raw_message.key)

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

    def nothing_written(self) -> bool:
        """No version, no artifact file, no event: the registry is as it was created."""
        artifact_dir = self.settings.artifact_dir
        return (
            self.app.state.store.list_models() == []
            and not any(artifact_dir.iterdir())
            and self.app.state.store.pending_events() == []
            and self.captured.events == []
        )

    async def metric(self, name: str) -> float:
        text = (await self.client.get("/metrics")).text
        for line in text.splitlines():
            if line.startswith(f"{name} "):
                return float(line.split()[1])
        raise AssertionError(f"metric {name} not exported")
