"""Wiring of the ingest service."""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from services.common.broker import make_broker
from services.common.http import service_app
from services.ingest.api import records_api
from services.ingest.config import Settings
from services.ingest.handlers import build_router
from services.ingest.metrics import IngestMetrics
from services.ingest.routing import Ingestor, broker_publisher


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    broker = make_broker(settings.kafka, client_id="mlbus-ingest")
    registry = CollectorRegistry()
    ingestor = Ingestor(
        settings.spec, settings.kafka.topics, broker_publisher(broker), IngestMetrics(registry)
    )
    broker.include_router(build_router(settings, ingestor))
    app = service_app("ingest", broker, registry)
    app.include_router(records_api(ingestor))
    return app
