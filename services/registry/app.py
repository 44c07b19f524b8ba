"""Wiring of the registry: store, outbox, HTTP API and the broker it publishes on."""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from contracts import ModelEvent
from services.common.broker import make_broker
from services.common.http import service_app
from services.registry.artifact_stores import open_artifact_store
from services.registry.config import Settings
from services.registry.http import body_limits, build_http_router
from services.registry.metrics import RegistryMetrics
from services.registry.outbox import Outbox
from services.registry.sql import open_database
from services.registry.store import RegistryStore


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    # The registry only publishes (topics.models): its broker has no subscribers.
    metrics_registry = CollectorRegistry()
    broker = make_broker(settings.kafka, client_id="mlbus-registry", registry=metrics_registry)
    store = RegistryStore(open_database(settings.database), open_artifact_store(settings))
    topic = settings.kafka.topics.models

    async def send(event: ModelEvent) -> None:
        await broker.publish(event, topic, key=event.model_name.encode())

    outbox = Outbox(store, send)

    async def drain_outbox() -> None:
        # Events queued while the broker was unreachable go out as soon as it answers.
        await outbox.run(settings.outbox_retry_seconds)

    app = service_app(
        "registry",
        broker,
        metrics_registry,
        background=[drain_outbox],
        body_limits=body_limits(settings),
    )
    metrics = RegistryMetrics(metrics_registry)
    # Refusals store nothing, so they have no outbox row: `send` publishes them directly.
    app.include_router(build_http_router(settings, store, outbox, metrics, publish_refusal=send))
    app.state.store = store
    return app
