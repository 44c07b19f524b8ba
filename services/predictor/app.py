"""Wiring of the predictor: broker, registry client, model holders, reload task, HTTP app."""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from contracts import ModelRefused
from services.common.broker import make_broker, raw_producer
from services.common.http import service_app
from services.common.poison import PoisonMetrics
from services.predictor.config import Settings
from services.predictor.handlers import Serving, build_router
from services.predictor.http_api import build_predict_router, predict_body_limits
from services.predictor.metrics import PredictorMetrics
from services.predictor.registry_client import CHALLENGER, ModelSource, RegistryClient
from services.predictor.serving import AliasReloader, ModelHolder, keep_models_loaded


def create_app(
    settings: Settings | None = None, *, registry_client: ModelSource | None = None
) -> FastAPI:
    """The predictor app; `registry_client` replaces the HTTP registry client (tests)."""
    settings = settings or Settings()
    registry = CollectorRegistry()
    broker = make_broker(settings.kafka, client_id="mlbus-predictor", registry=registry)
    metrics = PredictorMetrics(registry)
    source, owned_client = registry_client, None
    if source is None:
        source = owned_client = RegistryClient(
            settings.registry_url, timeout_seconds=settings.registry_timeout_seconds
        )

    async def announce_refusal(event: ModelRefused) -> None:
        await broker.publish(event, settings.kafka.topics.models, key=event.model_name.encode())

    def reloader(alias: str | None) -> AliasReloader:
        options = {"alias": alias} if alias else {}
        return AliasReloader(
            ModelHolder(),
            source,
            settings.model_name,
            metrics,
            spec=settings.spec,
            on_refused=announce_refusal,
            **options,
        )

    serving = Serving(champion=reloader(None), challenger=reloader(CHALLENGER))
    holder = serving.champion.holder
    router, stop_pipeline = build_router(
        settings,
        serving,
        metrics,
        producer=lambda: raw_producer(broker),
        poison=PoisonMetrics(registry),
    )
    broker.include_router(router)

    async def load_champion() -> None:
        """Serve the champion from the first batch on, if there is one: one bounded try, since
        the loop in `load_models` keeps trying (and batches wait for a model meanwhile)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(serving.champion.reload(), settings.registry_timeout_seconds)

    async def load_models() -> None:
        await keep_models_loaded(
            [serving.champion, serving.challenger],
            poll_seconds=settings.poll_seconds,
            recheck_seconds=settings.recheck_seconds,
        )

    async def on_shutdown() -> None:
        await stop_pipeline()  # batches in flight: finish, and commit what was acknowledged
        if owned_client is not None:
            await owned_client.aclose()

    app = service_app(
        "predictor",
        broker,
        registry,
        ready=lambda: holder.current is not None,
        ready_detail=lambda: {"model": serving.champion.waiting()},
        before_consume=load_champion,
        on_shutdown=on_shutdown,
        background=[load_models],
        body_limits=predict_body_limits(settings.http_max_body_bytes),
        stall_seconds=settings.kafka.consumer_stall_seconds,
    )
    app.state.model_holder = holder
    app.state.challenger_holder = serving.challenger.holder
    app.include_router(build_predict_router(holder, settings.spec, settings.http_max_records))

    @app.get("/model", tags=["predictor"])
    async def serving_model() -> dict[str, object]:
        """Which model versions serve right now (champion, and challenger if shadow-scored)."""
        model, shadow = holder.current, serving.challenger.holder.current
        if model is None:
            return {"model_name": settings.model_name, "loaded": False}
        return {
            "model_name": model.name,
            "loaded": True,
            "version": model.version,
            "sha256": model.sha256,
            "challenger_version": shadow.version if shadow else None,
        }

    return app
