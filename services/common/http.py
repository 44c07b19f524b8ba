"""The FastAPI app every service serves: its broker's lifespan plus /healthz, /readyz, /metrics."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from typing import Any

from fastapi import FastAPI, Response
from faststream.kafka import KafkaBroker
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from services.common.broker import wait_for_records
from services.common.serve import freeze_startup_objects

log = logging.getLogger(__name__)

ReadinessCheck = Callable[[], bool]
Hook = Callable[[], Awaitable[None]]
BackgroundJob = Callable[[], Coroutine[Any, Any, None]]


def service_app(
    name: str,
    broker: KafkaBroker,
    registry: CollectorRegistry,
    *,
    ready: ReadinessCheck = lambda: True,
    before_consume: Hook | None = None,
    on_startup: Hook | None = None,
    on_shutdown: Hook | None = None,
    background: Sequence[BackgroundJob] = (),
    start_retry_seconds: float = 1.0,
) -> FastAPI:
    """A FastAPI app that starts `broker` (retrying until the broker answers) and its hooks.

    `before_consume` runs once the broker is connected (it can publish) and before any
    subscriber starts consuming.

    Each `background` job runs as a task once the broker has started and is cancelled at
    shutdown, before `on_shutdown`.
    """
    state: dict[str, Any] = {"broker_started": False}
    tasks: list[asyncio.Task[None]] = []

    async def start_broker() -> None:
        while True:
            try:
                await broker.connect()
                if before_consume is not None and not state.get("prepared"):
                    await before_consume()
                    state["prepared"] = True
                await broker.start()
                wait_for_records(broker)
            except Exception as exc:  # broker not up yet: keep serving /healthz and retry
                log.warning("%s: broker not reachable yet (%s); retrying", name, exc)
                with contextlib.suppress(Exception):
                    await broker.stop()  # close the half-started clients before the next try
                await asyncio.sleep(start_retry_seconds)
                continue
            state["broker_started"] = True
            if on_startup is not None:
                await on_startup()
            if getattr(app.state, "freeze_gc_after_start", False):  # set by serve()
                freeze_startup_objects()
            tasks.extend(
                asyncio.create_task(job(), name=f"{name}-{job.__name__}") for job in background
            )
            log.info("%s: started", name)
            return

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        starter = asyncio.create_task(start_broker())
        try:
            yield
        finally:
            for task in (starter, *tasks):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if on_shutdown is not None:
                await on_shutdown()
            await broker.stop()

    app = FastAPI(title=f"mlbus {name}", lifespan=lifespan)
    app.state.broker = broker  # tests drive it with TestKafkaBroker

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": name}

    @app.get("/readyz", tags=["ops"])
    async def readyz(response: Response) -> dict[str, Any]:
        is_ready = bool(state["broker_started"]) and ready()
        response.status_code = 200 if is_ready else 503
        return {"ready": is_ready, "service": name, "broker": state["broker_started"]}

    @app.get("/metrics", tags=["ops"])
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app
