"""The FastAPI app every service serves: its broker's lifespan plus /healthz, /readyz, /metrics."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from faststream.kafka import KafkaBroker
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel, ConfigDict
from starlette.datastructures import Headers
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contracts.text import lone_surrogate_path, may_hold_surrogate
from services.common.broker import wait_for_records
from services.common.progress import ConsumerProgress
from services.common.serve import freeze_startup_objects

if TYPE_CHECKING:
    from services.common.spec_feed import SpecFeed

log = logging.getLogger(__name__)

ReadinessCheck = Callable[[], bool]
ReadinessDetail = Callable[[], Mapping[str, Any]]
Hook = Callable[[], Awaitable[None]]
BackgroundJob = Callable[[], Coroutine[Any, Any, None]]
Job = asyncio.Task[None]


def service_app(
    name: str,
    broker: KafkaBroker,
    metrics_registry: CollectorRegistry,
    *,
    ready: ReadinessCheck = lambda: True,
    ready_detail: ReadinessDetail | None = None,
    before_consume: Hook | None = None,
    on_startup: Hook | None = None,
    on_shutdown: Hook | None = None,
    background: Sequence[BackgroundJob] = (),
    start_retry_seconds: float = 1.0,
    body_limits: Sequence[BodyLimit] = (),
    stall_seconds: float = 120.0,
    specs: SpecFeed | None = None,
) -> FastAPI:
    """A FastAPI app that starts `broker` (retrying until the broker answers) and its hooks.

    `before_consume` runs once the broker is connected (it can publish) and before any
    subscriber starts consuming.

    `ready_detail` adds what the service waits for to /readyz's answer (ready or not).

    Each `background` job runs as a task once the broker has started and is cancelled at
    shutdown, before `on_shutdown`.

    A request body may be as long as the first of `body_limits` that matches its route says,
    and DEFAULT_BODY_BYTES on any other route (see LimitBodies).
    Every consumer of `broker` is watched (services.common.progress): /readyz turns red, and
    says why, when one has had records waiting and made no progress for `stall_seconds`.

    `specs` (the data sets registered so far) is read to its end before `before_consume`,
    followed as a background job, and closed after `on_shutdown`.
    """
    if specs is not None:
        before_consume = _in_turn(specs.catch_up, before_consume)
        background = (*background, specs.follow)
        on_shutdown = _in_turn(on_shutdown, specs.close)
    progress = ConsumerProgress(lambda: broker.subscribers, metrics_registry, stall_seconds)

    async def consumer_progress() -> None:
        await progress.run(interval_seconds=min(5.0, stall_seconds / 4))

    life = ServiceLifecycle(
        name,
        broker,
        before_consume=before_consume,
        on_startup=on_startup,
        on_shutdown=on_shutdown,
        background=(*background, consumer_progress),
        start_retry_seconds=start_retry_seconds,
    )
    app = FastAPI(title=f"mlbus {name}", lifespan=life.lifespan)
    app.add_middleware(LimitBodies, limits=tuple(body_limits))
    app.add_exception_handler(RequestValidationError, validation_problem)  # type: ignore[arg-type]
    app.state.broker = broker  # tests drive it with TestKafkaBroker
    readiness = Readiness(name, life, progress, ready, ready_detail)
    app.include_router(ops_router(name, readiness, metrics_registry))
    return app


def _in_turn(*hooks: Hook | None) -> Hook | None:
    """One hook that awaits each of `hooks` in turn; None when there are none."""
    present = [hook for hook in hooks if hook is not None]
    if not present:
        return None

    async def run() -> None:
        for hook in present:
            await hook()

    return run


class ServiceLifecycle:
    """Starts the broker (retrying until it answers), then the hooks and background jobs;
    stops them all, in reverse, at shutdown."""

    def __init__(
        self,
        name: str,
        broker: KafkaBroker,
        *,
        before_consume: Hook | None,
        on_startup: Hook | None,
        on_shutdown: Hook | None,
        background: Sequence[BackgroundJob],
        start_retry_seconds: float,
    ) -> None:
        self.name = name
        self.broker = broker
        self.before_consume = before_consume
        self.on_startup = on_startup
        self.on_shutdown = on_shutdown
        self.background = tuple(background)
        self.start_retry_seconds = start_retry_seconds
        self.broker_started = False
        self._prepared = False
        self._tasks: list[asyncio.Task[None]] = []

    @contextlib.asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        starter = asyncio.create_task(self.start(app))
        try:
            yield
        finally:
            await stop_tasks((starter, *self._tasks), TASK_STOP_SECONDS)
            if self.on_shutdown is not None:
                await self.on_shutdown()
            await self.broker.stop()

    async def start(self, app: FastAPI) -> None:
        """Until the broker answers: /healthz is served meanwhile, /readyz says not ready."""
        while True:
            if await self._start_broker():
                break
            await asyncio.sleep(self.start_retry_seconds)
        self.broker_started = True
        if self.on_startup is not None:
            await self.on_startup()
        if getattr(app.state, "freeze_gc_after_start", False):  # set by serve()
            freeze_startup_objects()
        self._tasks.extend(
            asyncio.create_task(job(), name=f"{self.name}-{job.__name__}")
            for job in self.background
        )
        log.info("%s: started", self.name)

    async def _start_broker(self) -> bool:
        try:
            await self.broker.connect()
            if self.before_consume is not None and not self._prepared:
                await self.before_consume()
                self._prepared = True
            await self.broker.start()
            wait_for_records(self.broker)
        except Exception as exc:  # broker not up yet: keep serving /healthz and retry
            log.warning("%s: broker not reachable yet (%s); retrying", self.name, exc)
            with contextlib.suppress(Exception):
                await self.broker.stop()  # close the half-started clients before the next try
            return False
        return True


# How long shutdown waits for its cancelled jobs before it stops the broker all the same: a job
# that drops its cancel must not keep the consumers in their groups, heartbeating, after SIGTERM.
TASK_STOP_SECONDS = 5.0


async def stop_tasks(tasks: Sequence[Job], seconds: float) -> set[Job]:
    """Cancel `tasks` and wait at most `seconds` for them; returns those still running. A task
    that failed, or did not stop in time, is logged: neither holds up the rest of shutdown."""
    for task in tasks:
        task.cancel()
    if not tasks:
        return set()
    done, running = await asyncio.wait(tasks, timeout=seconds)
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            log.warning("shutdown: %s failed: %r", task.get_name(), task.exception())
    for task in running:
        log.warning("shutdown: %s did not stop within %g s of its cancel", task.get_name(), seconds)
    return running


@dataclass(frozen=True)
class Readiness:
    """/readyz's answer: the broker started, the service's own check, no stalled consumer."""

    name: str
    life: ServiceLifecycle
    progress: ConsumerProgress
    ready: ReadinessCheck
    detail: ReadinessDetail | None

    def answer(self) -> tuple[bool, dict[str, Any]]:
        stalled = self.progress.problems()
        started = self.life.broker_started
        is_ready = started and self.ready() and not stalled
        body: dict[str, Any] = {"ready": is_ready, "service": self.name, "broker": started}
        if self.detail is not None:
            body |= dict(self.detail())
        return is_ready, body | ({"stalled": stalled} if stalled else {})


def ops_router(name: str, readiness: Readiness, metrics_registry: CollectorRegistry) -> APIRouter:
    """/healthz, /readyz and /metrics, the same in every service."""
    router = APIRouter(tags=["ops"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": name}

    @router.get(
        "/readyz",
        responses={503: {"description": "not ready yet (same body)", "model": dict[str, Any]}},
    )
    async def readyz(response: Response) -> dict[str, Any]:
        is_ready, body = readiness.answer()
        response.status_code = 200 if is_ready else 503
        return body

    @router.get("/metrics", response_class=PlainTextResponse)
    async def metrics() -> Response:
        """Prometheus metrics in its text exposition format."""
        return Response(generate_latest(metrics_registry), media_type=CONTENT_TYPE_LATEST)

    return router


# --- request body limits --------------------------------------------------------------------

# Routes that take no body (reads, health, metrics) still get a bound on what they are sent.
DEFAULT_BODY_BYTES = 64 * 1024


@dataclass(frozen=True)
class BodyLimit:
    """At most `max_bytes` of body for `method` on paths matching `path` (a full-match regex)."""

    method: str
    path: str
    max_bytes: int

    def matches(self, method: str, path: str) -> bool:
        return method == self.method and re.fullmatch(self.path, path) is not None


class BodyTooLarge(HTTPException):
    """A request body over its route's limit (HTTP 413); raised while the body is read."""

    def __init__(self, max_bytes: int, what: str) -> None:
        super().__init__(
            413, f"request body {what} is over this route's limit of {max_bytes} bytes"
        )


class LimitBodies:
    """ASGI middleware: a body over its route's limit is refused with 413 before it is held.

    A declared Content-Length over the limit is refused before the app sees the request (so
    before any authentication or parsing); a body that streams in without one is counted as it
    arrives and refused at the first chunk past the limit. Routes that read no body (a refusal
    before reading, such as a missing token) never pull the rest of it in.
    """

    def __init__(self, app: ASGIApp, limits: Sequence[BodyLimit] = ()) -> None:
        self.app = app
        self.limits = tuple(limits)

    def limit_for(self, method: str, path: str) -> int:
        return next(
            (rule.max_bytes for rule in self.limits if rule.matches(method, path)),
            DEFAULT_BODY_BYTES,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["method"], scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(BodyTooLarge(limit, f"of {declared} bytes (Content-Length)"), scope, send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit, f"of more than {limit} bytes")
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except BodyTooLarge as refused:  # raised where no exception handler turned it into 413
            if started:
                raise
            await _refuse(refused, scope, send)


def _content_length(scope: Scope) -> int | None:
    value = Headers(scope=scope).get("content-length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None  # the server refuses a malformed Content-Length before we are called


async def _refuse(refused: BodyTooLarge, scope: Scope, send: Send) -> None:
    response = JSONResponse({"detail": refused.detail}, status_code=refused.status_code)
    await response(scope, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.disconnect"}


# --- text that is not Unicode --------------------------------------------------------------


def refuse_lone_surrogates(body: bytes, decoded: object = None) -> None:
    """422 naming where the JSON `body` holds a lone surrogate escape (its text can never be
    encoded, so nothing made of it can be answered or published); `decoded`: the body decoded
    already, if it was. A body that is not JSON passes: its route refuses it its own way."""
    if not may_hold_surrogate(body):
        return
    if decoded is None:
        try:
            decoded = json.loads(body)
        except (ValueError, RecursionError):
            return
    where = lone_surrogate_path(decoded)
    if where is not None:
        message = f"text at {where} is not valid Unicode (a lone surrogate escape)"
        raise RequestValidationError([{"type": "unicode", "loc": ("body", where), "msg": message}])


# --- error bodies as the OpenAPI documents describe them --------------------------------------


async def validation_problem(_: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's 422, echoing only scalar inputs, cut short and made JSON-safe: the default
    answer echoes every refused input whole, and itself fails (500) on NaN, a lone surrogate
    or a deeply nested one."""
    issues = [_issue(error) for error in exc.errors()]
    return JSONResponse({"detail": issues}, status_code=422)


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
MAX_ECHOED_CHARS = 200


def _issue(error: Any) -> dict[str, Any]:
    issue: dict[str, Any] = {
        "type": str(error.get("type", "invalid")),
        "loc": [item if isinstance(item, int) else _safe_text(str(item)) for item in error["loc"]],
        "msg": _safe_text(str(error.get("msg", ""))),
    }
    value = error.get("input")
    if isinstance(value, float) and not math.isfinite(value):
        issue["input"] = repr(value)
    elif isinstance(value, str):
        issue["input"] = _safe_text(value)
    elif value is None or isinstance(value, bool) or _exact_in_json(value):
        issue["input"] = value
    return issue  # other inputs (objects, arrays, huge numbers) are not echoed


def _exact_in_json(value: object) -> bool:
    """A number every JSON reader gets back as it was (within a double's exact integers)."""
    return isinstance(value, int | float) and abs(value) < 2**53


def _safe_text(text: str) -> str:
    """`text` cut to MAX_ECHOED_CHARS, lone surrogates as U+FFFD (they cannot be encoded)."""
    cut = text if len(text) <= MAX_ECHOED_CHARS else text[:MAX_ECHOED_CHARS] + "..."
    return _LONE_SURROGATE.sub("\ufffd", cut)


class ValidationIssue(BaseModel):
    """One problem with a request, as FastAPI reports it (`input` and `ctx` may follow)."""

    model_config = ConfigDict(extra="allow")

    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """Every 4xx and 5xx answer: a sentence, or FastAPI's list of validation issues."""

    detail: str | list[ValidationIssue]


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for error statuses, each with the Problem body."""
    return {status: {"model": Problem, "description": _REASONS[status]} for status in statuses}


_REASONS = {
    400: "malformed request (e.g. a body that is not valid multipart or JSON)",
    401: "missing or wrong bearer token",
    404: "no such model, version or alias",
    409: "conflicts with the stored state (nothing to change, or a corrupted stored artifact)",
    413: "request body or element count over the route's limit",
    422: "invalid request: the detail says what and where",
    503: "not ready (no model, broker unavailable): retry later",
}
