"""Wiring of the monitor service."""

from __future__ import annotations

import asyncio
import logging

from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from prometheus_client import CollectorRegistry

from contracts import DriftDetected
from services.common.broker import make_broker
from services.common.http import service_app
from services.common.poison import PoisonMetrics
from services.common.spec_catalogue import SpecCatalogue
from services.common.spec_feed import spec_feed
from services.monitor.checkpointing.checkpointer import Checkpointer
from services.monitor.checkpointing.kafka_store import KafkaCheckpointStore
from services.monitor.config import Settings
from services.monitor.handlers import build_router
from services.monitor.http import build_http_router
from services.monitor.live_error import LabelJoiner
from services.monitor.metrics import MonitorMetrics
from services.monitor.processor import PredictionProcessor, PublishDrift
from services.monitor.record_keys import RecordKeys
from services.monitor.reference_client import ReferenceSource, RegistryReferenceClient
from services.monitor.retired_models import on_retirement
from services.monitor.stats import warm_up
from services.monitor.windows import DriftWindows

log = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None, *, references: ReferenceSource | None = None
) -> FastAPI:
    """The monitor app; `references` replaces the registry client (tests)."""
    settings = settings or Settings()
    metrics_registry = CollectorRegistry()
    broker = make_broker(settings.kafka, client_id="mlbus-monitor", registry=metrics_registry)
    metrics = MonitorMetrics(metrics_registry)
    client = None
    if references is None:
        references = client = RegistryReferenceClient(
            settings.registry_url,
            retry_seconds=settings.reference_retry_seconds,
            timeout_seconds=settings.registry_timeout_seconds,
        )
    catalogue = SpecCatalogue(settings.spec)
    catalogue.on_change(on_retirement(metrics))
    processor = _processor(settings, references, metrics, broker, RecordKeys(catalogue))
    checkpoints = Checkpointer(
        processor,
        metrics,
        KafkaCheckpointStore(broker, settings.kafka.topics.monitor_state, settings.group_id),
        group_id=settings.group_id,
        ids=min(settings.checkpoint_ids, settings.dedupe_capacity),
    )
    poison = PoisonMetrics(metrics_registry)
    broker.include_router(build_router(settings, processor, metrics, checkpoints, poison))

    async def sweep() -> None:
        await _sweep_forever(processor, settings.reference_retry_seconds)

    async def warm_statistics() -> None:
        await asyncio.to_thread(warm_up)

    async def checkpoint() -> None:
        await checkpoints.run(settings.checkpoint_seconds)

    async def on_shutdown() -> None:
        await _final_checkpoint(checkpoints)
        if client is not None:
            await client.aclose()

    app = service_app(
        "monitor",
        broker,
        metrics_registry,
        before_consume=checkpoints.restore,
        on_shutdown=on_shutdown,
        background=[sweep, warm_statistics, checkpoint],
        stall_seconds=settings.kafka.consumer_stall_seconds,
        specs=spec_feed(settings.kafka, broker, catalogue),
    )
    app.include_router(build_http_router(processor))
    app.state.processor = processor
    app.state.checkpoints = checkpoints
    return app


def _processor(
    settings: Settings,
    references: ReferenceSource,
    metrics: MonitorMetrics,
    broker: KafkaBroker,
    keys: RecordKeys,
) -> PredictionProcessor:
    return PredictionProcessor(
        DriftWindows(settings.window_policy),
        references,
        metrics,
        publish=_drift_publisher(broker, settings.kafka.topics.drift),
        dedupe_capacity=settings.dedupe_capacity,
        joiner=LabelJoiner(
            capacity=settings.join_capacity,
            horizon_seconds=settings.join_horizon_seconds,
            window_size=settings.error_window,
            class_window_size=settings.classification_window,
        ),
        keys=keys,
    )


def _drift_publisher(broker: KafkaBroker, topic: str) -> PublishDrift:
    async def publish(event: DriftDetected) -> None:
        await broker.publish(event, topic, key=event.model_name.encode())

    return publish


async def _final_checkpoint(checkpoints: Checkpointer, timeout: float = 10.0) -> None:
    """At a graceful stop: what was counted since the last checkpoint is not read again."""
    try:
        await asyncio.wait_for(checkpoints.checkpoint(), timeout)
    except Exception as exc:  # the restart reads from the previous checkpoint: still exact
        log.warning("monitor: no checkpoint at shutdown: %s", exc)


async def _sweep_forever(processor: PredictionProcessor, interval: float) -> None:
    """Evaluates predictions that waited for a reference even when no new ones arrive."""
    while True:
        await asyncio.sleep(interval)
        try:
            await processor.sweep()
        except Exception:  # keep sweeping: the next round may succeed
            log.exception("monitor sweep failed")
