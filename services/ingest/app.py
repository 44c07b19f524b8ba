"""Wiring of the ingest service."""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from contracts import records_v2_topic
from services.common.broker import make_broker
from services.common.http import service_app
from services.common.poison import PoisonMetrics
from services.common.sending import BrokerSender, ProducerSender
from services.common.spec_catalogue import SpecCatalogue
from services.common.spec_feed import spec_feed
from services.ingest.config import Settings
from services.ingest.dedup import SeenIds
from services.ingest.handlers import build_router, output_sender
from services.ingest.http import body_limits, build_http_router
from services.ingest.metrics import IngestMetrics
from services.ingest.routing import Ingestor


def create_app(settings: Settings | None = None, *, in_memory: bool = False) -> FastAPI:
    """The ingest app; `in_memory`: faststream's in-memory test broker drives it, so outputs
    go through the broker's publish (which it delivers) rather than the aiokafka producer."""
    settings = settings or Settings()
    metrics_registry = CollectorRegistry()
    broker = make_broker(settings.kafka, client_id="mlbus-ingest", registry=metrics_registry)
    topics = settings.kafka.topics
    seen = SeenIds(settings.dedup_horizon_seconds, settings.dedup_max_ids)
    v2_topic = records_v2_topic(topics) if settings.publish_v2 else None
    sender = BrokerSender(broker) if in_memory else ProducerSender(broker)
    send = output_sender(broker, topics, sender, v2_topic=v2_topic)
    metrics = IngestMetrics(metrics_registry)
    # The data sets ingest validates: its own spec (the default), and each one registered.
    catalogue = SpecCatalogue(settings.spec)
    ingestor = Ingestor(catalogue, topics, send, metrics, seen, records_v2_topic=v2_topic)
    broker.include_router(build_router(settings, ingestor, PoisonMetrics(metrics_registry)))
    app = service_app(
        "ingest",
        broker,
        metrics_registry,
        body_limits=body_limits(settings.http_max_body_bytes),
        stall_seconds=settings.kafka.consumer_stall_seconds,
        specs=spec_feed(settings.kafka, broker, catalogue),
    )
    app.state.catalogue = catalogue  # the data sets it serves; tests teach it as the feed would
    app.include_router(build_http_router(ingestor, settings.http_max_records))
    return app
