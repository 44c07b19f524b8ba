"""Wiring of the trainer: broker, a coordinator per data set, registry client, HTTP app."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from contracts import ModelRefused
from services.common.broker import make_broker
from services.common.http import service_app
from services.common.poison import PoisonMetrics
from services.common.spec_catalogue import SpecCatalogue
from services.common.spec_feed import spec_feed
from services.trainer.config import Settings
from services.trainer.coordinator import ChampionSource, TrainingCoordinator, Uploader
from services.trainer.datasets import TrainerDatasets
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

    slots = asyncio.Semaphore(settings.parallel_runs)  # shared by every data set's runs

    def coordinator(dataset_settings: Settings) -> TrainingCoordinator:
        return TrainingCoordinator(
            dataset_settings,
            uploader,
            metrics,
            champions=champions,
            publish_refusal=publish_refusal,
            slots=slots,
        )

    catalogue = SpecCatalogue(settings.spec)
    feed = spec_feed(settings.kafka, broker, catalogue)
    datasets = TrainerDatasets(
        catalogue, settings, metrics, coordinator, hold_unknown=feed is not None
    )
    broker.include_router(build_router(settings, datasets, PoisonMetrics(metrics_registry)))

    app = service_app(
        "trainer",
        broker,
        metrics_registry,
        on_shutdown=datasets.close,
        stall_seconds=settings.kafka.consumer_stall_seconds,
        specs=feed,
    )
    app.include_router(build_http_router(datasets))
    app.state.catalogue = catalogue
    app.state.datasets = datasets
    app.state.coordinator = datasets.default  # the start-up data set's
    return app
