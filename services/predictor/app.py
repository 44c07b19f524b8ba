"""Wiring of the predictor: broker, registry client, model holder, reload task, HTTP app."""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from services.common.broker import make_broker
from services.common.http import service_app
from services.predictor.config import Settings
from services.predictor.handlers import build_router
from services.predictor.metrics import PredictorMetrics
from services.predictor.registry_client import ChampionSource, RegistryClient
from services.predictor.serving import ChampionReloader, ModelHolder, keep_champion_loaded


def create_app(
    settings: Settings | None = None, *, registry_client: ChampionSource | None = None
) -> FastAPI:
    """The predictor app; `registry_client` replaces the HTTP registry client (tests)."""
    settings = settings or Settings()
    broker = make_broker(settings.kafka, client_id="mlbus-predictor")
    registry = CollectorRegistry()
    metrics = PredictorMetrics(registry)
    source, owned_client = registry_client, None
    if source is None:
        source = owned_client = RegistryClient(
            settings.registry_url, timeout_seconds=settings.registry_timeout_seconds
        )
    holder = ModelHolder()
    reloader = ChampionReloader(holder, source, settings.model_name, metrics)
    broker.include_router(build_router(settings, holder, reloader, metrics))

    async def load_champion() -> None:
        await keep_champion_loaded(
            reloader, poll_seconds=settings.poll_seconds, recheck_seconds=settings.recheck_seconds
        )

    async def on_shutdown() -> None:
        if owned_client is not None:
            await owned_client.aclose()

    app = service_app(
        "predictor",
        broker,
        registry,
        ready=lambda: holder.current is not None,
        on_shutdown=on_shutdown,
        background=[load_champion],
    )
    app.state.model_holder = holder

    @app.get("/model", tags=["predictor"])
    async def serving_model() -> dict[str, object]:
        """Which model version serves right now."""
        model = holder.current
        if model is None:
            return {"model_name": settings.model_name, "loaded": False}
        return {
            "model_name": model.name,
            "loaded": True,
            "version": model.version,
            "sha256": model.sha256,
        }

    return app
