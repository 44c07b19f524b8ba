"""Wiring of the registry: store, outbox, HTTP API and the broker it publishes on."""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from contracts import ModelEvent, SpecEvent, SpecRegistered, SpecRetired
from services.common.broker import make_broker
from services.common.http import service_app
from services.registry.artifact_stores import open_artifact_store
from services.registry.config import Settings
from services.registry.events import OutboxEvent
from services.registry.http import body_limits, build_http_router
from services.registry.metrics import RegistryMetrics
from services.registry.outbox import Outbox
from services.registry.spec_http import build_spec_router
from services.registry.spec_store import SpecStore
from services.registry.sql import open_database
from services.registry.store import RegistryStore

_MODELS_DOC = "Model versions registered, promoted, rolled back or refused; keyed by model name."
_SPECS_DOC = "Each new version of a data set's spec, or its retirement; compacted, keyed by name."


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    # The registry only publishes (topics.models, topics.specs): its broker has no subscribers.
    metrics_registry = CollectorRegistry()
    broker = make_broker(settings.kafka, client_id="mlbus-registry", registry=metrics_registry)
    database = open_database(settings.database)
    store = RegistryStore(database, open_artifact_store(settings))
    topics = settings.kafka.topics

    # Declared for the AsyncAPI document only; `send` publishes through the broker.
    broker.publisher(topics.models, schema=ModelEvent, description=_MODELS_DOC)
    broker.publisher(topics.specs, schema=SpecEvent, description=_SPECS_DOC)

    async def send(event: OutboxEvent) -> None:
        # A spec event is keyed by its data set (the compacted topic keeps the latest of each).
        if isinstance(event, SpecRegistered | SpecRetired):
            await broker.publish(event, topics.specs, key=event.dataset.encode())
        else:
            await broker.publish(event, topics.models, key=event.model_name.encode())

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
    specs = SpecStore(database)
    app.include_router(
        build_http_router(settings, store, outbox, metrics, publish_refusal=send, specs=specs)
    )
    app.include_router(build_spec_router(settings, specs, outbox))
    app.state.store = store
    return app
