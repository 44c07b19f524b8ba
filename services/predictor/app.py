"""The predictor's composition root: settings, broker, routers, lifespan, HTTP."""

from __future__ import annotations

from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from prometheus_client import CollectorRegistry

from contracts import ModelRefused
from services.common.broker import make_broker
from services.common.http import service_app
from services.common.poison import PoisonMetrics
from services.common.sending import BrokerSender, ProducerSender
from services.common.spec_catalogue import SpecCatalogue
from services.common.spec_feed import spec_feed
from services.predictor.config import Settings
from services.predictor.handlers import build_router
from services.predictor.http import body_limits, build_http_router
from services.predictor.metrics import PredictorMetrics
from services.predictor.pipeline import BatchPipeline, BatchScorer, InlinePipeline, KafkaPipeline
from services.predictor.registry_client import ModelSource, RegistryClient
from services.predictor.servings import Servings


def create_app(
    settings: Settings | None = None,
    *,
    registry_client: ModelSource | None = None,
    in_memory: bool = False,
) -> FastAPI:
    """The predictor app; `registry_client` replaces the HTTP registry client, and `in_memory`
    says faststream's in-memory test broker drives it (no offsets, delivered at once)."""
    settings = settings or Settings()
    metrics_registry = CollectorRegistry()
    broker = make_broker(settings.kafka, client_id="mlbus-predictor", registry=metrics_registry)
    metrics = PredictorMetrics(metrics_registry)
    source, owned_client = registry_client, None
    if source is None:
        source = owned_client = RegistryClient(
            settings.registry_url, timeout_seconds=settings.registry_timeout_seconds
        )

    catalogue = SpecCatalogue(settings.spec)
    servings = _servings(settings, broker, source, metrics, catalogue)
    serving = servings.default
    pipeline = _pipeline(settings, broker, servings, metrics, metrics_registry, in_memory=in_memory)
    broker.include_router(build_router(settings, pipeline, servings))

    async def load_models() -> None:
        await servings.keep_loaded(
            poll_seconds=settings.poll_seconds, recheck_seconds=settings.recheck_seconds
        )

    async def on_shutdown() -> None:
        await pipeline.stop()  # batches in flight: finish, and commit what was acknowledged
        if owned_client is not None:
            await owned_client.aclose()

    app = service_app(
        "predictor",
        broker,
        metrics_registry,
        ready=lambda: serving.champion.holder.current is not None,
        ready_detail=lambda: {"model": serving.champion.waiting(), "models": servings.waiting()},
        before_consume=lambda: servings.load_champions(settings.registry_timeout_seconds),
        on_shutdown=on_shutdown,
        background=[load_models],
        body_limits=body_limits(settings.http_max_body_bytes),
        stall_seconds=settings.kafka.consumer_stall_seconds,
        specs=spec_feed(settings.kafka, broker, catalogue),
    )
    app.state.catalogue = catalogue
    app.state.servings = servings
    app.state.model_holder = serving.champion.holder
    app.state.challenger_holder = serving.challenger.holder
    app.include_router(build_http_router(servings, catalogue, settings))
    return app


def _servings(
    settings: Settings,
    broker: KafkaBroker,
    source: ModelSource,
    metrics: PredictorMetrics,
    catalogue: SpecCatalogue,
) -> Servings:
    """A Serving per data set of `catalogue`; a refused model version is announced."""

    async def announce_refusal(event: ModelRefused) -> None:
        await broker.publish(event, settings.kafka.topics.models, key=event.model_name.encode())

    return Servings(
        source,
        metrics,
        catalogue,
        default_model_name=settings.model_name,
        on_refused=announce_refusal,
    )


def _pipeline(
    settings: Settings,
    broker: KafkaBroker,
    servings: Servings,
    metrics: PredictorMetrics,
    metrics_registry: CollectorRegistry,
    *,
    in_memory: bool,
) -> BatchPipeline:
    """Kafka's pipelined commits, or scoring inline under the in-memory test broker."""
    # Records handed back after a failed send count as redelivered, as in every consumer.
    redelivered = PoisonMetrics(metrics_registry).redelivered.labels(consumer="predictor.requests")
    sender = BrokerSender(broker) if in_memory else ProducerSender(broker)
    scorer = BatchScorer(settings, servings, metrics, sender)
    if in_memory:
        return InlinePipeline(scorer)
    return KafkaPipeline(
        scorer,
        metrics,
        settings.pipeline_depth,
        redelivered.inc,
        commit_interval_seconds=settings.commit_interval_ms / 1000,
    )
