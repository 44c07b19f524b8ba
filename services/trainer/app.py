"""Wiring of the trainer: broker, record buffer and run coordinator, registry client, HTTP app."""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from contracts import ModelRefused
from services.common.broker import make_broker
from services.common.http import service_app
from services.common.poison import PoisonMetrics
from services.trainer.config import Settings
from services.trainer.coordinator import ChampionSource, TrainingCoordinator, Uploader
from services.trainer.handlers import build_router
from services.trainer.http import build_http_router
from services.trainer.metrics import TrainerMetrics
from services.trainer.registry_client import RegistryClient


def create_app(settings: Settings | None = None, *, uploader: Uploader | None = None) -> FastAPI:
    """The trainer app; `uploader` replaces the HTTP registry client (tests), and also serves
    the champion if it can."""
    settings = settings or Settings()
    metrics_registry = CollectorRegistry()
    broker = make_broker(settings.kafka, client_id="mlbus-trainer", registry=metrics_registry)
    metrics = TrainerMetrics(metrics_registry)
    if uploader is None:
        uploader = RegistryClient(
            settings.registry_url,
            settings.registry_token,
            timeout_seconds=settings.registry_timeout_seconds,
        )
    champions = uploader if isinstance(uploader, ChampionSource) else None
    models_topic = settings.kafka.topics.models

    async def publish_refusal(event: ModelRefused) -> None:
        await broker.publish(event, models_topic, key=event.model_name.encode())

    coordinator = TrainingCoordinator(
        settings, uploader, metrics, champions=champions, publish_refusal=publish_refusal
    )
    broker.include_router(build_router(settings, coordinator, PoisonMetrics(metrics_registry)))

    app = service_app(
        "trainer",
        broker,
        metrics_registry,
        on_shutdown=coordinator.runs.close,
        stall_seconds=settings.kafka.consumer_stall_seconds,
    )
    app.include_router(build_http_router(coordinator))
    app.state.coordinator = coordinator
    return app
