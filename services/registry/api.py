"""The registry HTTP API: upload versions, read them, download artifacts, move aliases.

Reads are open; writes (upload, promote, rollback) need the bearer token.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Annotated, Any, TypeVar

from fastapi import (
    APIRouter,
    Depends,
    File,
    Form,
    Header,
    HTTPException,
    Query,
    Response,
    UploadFile,
)
from pydantic import BaseModel, ConfigDict, Field

from contracts import ModelEvent, ModelRefused, ModelVersion
from services.registry.aliases import AliasMove
from services.registry.artifacts import ArtifactCorrupted, sha256_of
from services.registry.config import Settings
from services.registry.metrics import RegistryMetrics
from services.registry.outbox import Outbox
from services.registry.policy import CHAMPION, decide_promotion
from services.registry.store import (
    AliasChange,
    Conflict,
    ModelSummary,
    NotFound,
    RegistryStore,
    VersionDetails,
)
from services.registry.validation import (
    InvalidUpload,
    check_onnx,
    check_sha256,
    check_spec,
    parse_card,
    validate_model_name,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
Publish = Callable[[ModelEvent], Awaitable[object]]

_AUTH: dict[int | str, dict[str, Any]] = {401: {"description": "missing or wrong bearer token"}}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such model, version or alias"}
}


class AliasRequest(BaseModel):
    """Body of a manual promotion or rollback."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500, description="why: kept in the history")
    actor: str = Field(
        default="api", min_length=1, max_length=100, description="who asks (declared)"
    )


class AliasChangeResult(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    model_name: str
    champion: int
    moves: tuple[AliasMove, ...]


def valid_name(name: str) -> str:
    """The `{name}` path parameter, refused unless it is a valid model name."""
    try:
        return validate_model_name(name)
    except InvalidUpload as exc:
        raise HTTPException(422, str(exc)) from exc


ModelName = Annotated[str, Depends(valid_name)]


def _bearer_check(settings: Settings) -> Callable[[str | None], None]:
    expected = settings.token.get_secret_value().encode()

    def require_token(authorization: Annotated[str | None, Header()] = None) -> None:
        scheme, _, token = (authorization or "").partition(" ")
        # compare_digest: the comparison takes as long for a near miss as for a wild guess
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected):
            raise HTTPException(
                401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"}
            )

    return require_token


def build_api_router(
    settings: Settings,
    store: RegistryStore,
    outbox: Outbox,
    metrics: RegistryMetrics,
    publish_refusal: Publish,
) -> APIRouter:
    router = APIRouter(prefix="/models", tags=["registry"])
    _add_upload(router, settings, store, outbox, metrics, publish_refusal)
    _add_alias_writes(router, settings, store, outbox, metrics)
    _add_reads(router, store)
    return router


def _add_upload(
    router: APIRouter,
    settings: Settings,
    store: RegistryStore,
    outbox: Outbox,
    metrics: RegistryMetrics,
    publish_refusal: Publish,
) -> None:
    policy = partial(decide_promotion, margin=settings.promotion_margin)
    spec = settings.spec if settings.spec_check else None

    @router.post(
        "/{name}/versions",
        status_code=201,
        dependencies=[Depends(_bearer_check(settings))],
        responses={**_AUTH, 413: {"description": "too large"}, 422: {"description": "refused"}},
    )
    async def upload_version(
        name: ModelName,
        artifact: Annotated[UploadFile, File(description="the ONNX model")],
        card: Annotated[str, Form(description="contracts.ModelCard as JSON")],
        x_content_sha256: Annotated[
            str | None, Header(description="sha256 of the artifact; refused if it differs")
        ] = None,
    ) -> ModelVersion:
        """Register a version; the promotion policy decides champion or challenger."""
        data = await artifact.read(settings.max_artifact_bytes + 1)
        try:
            if len(data) > settings.max_artifact_bytes:
                raise InvalidUpload(f"artifact larger than {settings.max_artifact_bytes} bytes")
            check_sha256(sha256_of(data), x_content_sha256)
            model_card = parse_card(card, name)
            check_spec(model_card, spec)
            signature = await asyncio.to_thread(check_onnx, data, model_card)
        except InvalidUpload as exc:
            await _announce_refusal(publish_refusal, name, str(exc), settings)
            status = 413 if len(data) > settings.max_artifact_bytes else 422
            raise HTTPException(status, str(exc)) from exc
        registration = await asyncio.to_thread(store.register, model_card, data, policy, signature)
        metrics.versions.inc()
        if registration.decision.promoted:
            metrics.promotions.inc()
        stored, decision = registration.version, registration.decision
        log.info(
            "registry: %s v%d -> %s: %s", name, stored.version, decision.alias, decision.reason
        )
        await outbox.flush_within(settings.publish_timeout_seconds)
        return stored


async def _announce_refusal(publish: Publish, name: str, reason: str, settings: Settings) -> None:
    log.warning("registry: upload of %s refused: %s", name, reason)
    event = ModelRefused(model_name=name, refused_by="registry", reason=reason)
    try:
        await asyncio.wait_for(publish(event), settings.publish_timeout_seconds)
    except Exception as exc:  # the refusal stands even if nobody hears of it
        log.warning("registry: ModelRefused for %s not published (%s)", name, exc)


def _add_alias_writes(
    router: APIRouter,
    settings: Settings,
    store: RegistryStore,
    outbox: Outbox,
    metrics: RegistryMetrics,
) -> None:
    writes: dict[str, Any] = {
        "dependencies": [Depends(_bearer_check(settings))],
        "responses": {**_AUTH, **_NOT_FOUND, 409: {"description": "nothing to change"}},
    }

    async def apply(name: str, change: Callable[[], AliasChange]) -> AliasChangeResult:
        try:
            done = await asyncio.to_thread(change)
        except NotFound as exc:
            raise HTTPException(404, str(exc)) from exc
        except Conflict as exc:
            raise HTTPException(409, str(exc)) from exc
        await outbox.flush_within(settings.publish_timeout_seconds)  # after the commit
        champion = next(m.to_version for m in done.moves if m.alias == CHAMPION)
        assert champion is not None
        log.info("registry: %s champion -> v%d: %s", name, champion, done.moves[0].reason)
        return AliasChangeResult(model_name=name, champion=champion, moves=done.moves)

    @router.post("/{name}/versions/{version}/promote", **writes)
    async def promote(name: ModelName, version: int, body: AliasRequest) -> AliasChangeResult:
        """Make this version the champion by hand (ModelPromoted)."""
        result = await apply(name, partial(store.promote, name, version, body.actor, body.reason))
        metrics.promotions.inc()
        return result

    @router.post("/{name}/rollback", **writes)
    async def rollback(name: ModelName, body: AliasRequest) -> AliasChangeResult:
        """Give the champion alias back to the previous champion (ModelRolledBack)."""
        return await apply(name, partial(store.rollback, name, body.actor, body.reason))


def _add_reads(router: APIRouter, store: RegistryStore) -> None:
    @router.get("")
    def list_models() -> list[ModelSummary]:
        """Every model with its latest version number and aliases."""
        return store.list_models()

    @router.get("/{name}/versions")
    def list_versions(name: ModelName) -> list[ModelVersion]:
        return store.versions(name)

    @router.get("/{name}/versions/{version}", responses=_NOT_FOUND)
    def get_version(name: ModelName, version: int) -> ModelVersion:
        return _found(store.version(name, version), f"{name} v{version}")

    @router.get("/{name}/versions/{version}/details", responses=_NOT_FOUND)
    def get_details(name: ModelName, version: int) -> VersionDetails:
        """The version, its parent champion, the policy's decision and its ONNX signature."""
        return _found(store.details(name, version), f"{name} v{version}")

    @router.get(
        "/{name}/versions/{version}/artifact",
        response_class=Response,
        responses={200: {"content": {"application/octet-stream": {}}}, **_NOT_FOUND},
    )
    def download_artifact(name: ModelName, version: int) -> Response:
        """The ONNX bytes, verified against their sha256 (also in X-Content-SHA256)."""
        try:
            found = store.artifact(name, version)
        except (ArtifactCorrupted, FileNotFoundError) as exc:
            # 409, not 500: the request is fine, the stored artifact conflicts with its hash.
            # Clients treat it as a refused model rather than a registry that is down.
            log.error("registry: artifact of %s v%d unusable: %s", name, version, exc)
            raise HTTPException(
                409, f"artifact_corrupted: stored artifact of {name} v{version} is unusable"
            ) from exc
        stored, data = _found(found, f"{name} v{version}")
        return Response(
            content=data,
            media_type="application/octet-stream",
            headers={
                "X-Content-SHA256": stored.sha256,
                "Content-Disposition": f'attachment; filename="{name}-v{version}.onnx"',
            },
        )

    @router.get("/{name}/aliases/{alias}", responses=_NOT_FOUND)
    def get_alias(name: ModelName, alias: str) -> ModelVersion:
        return _found(store.by_alias(name, alias), f"alias {alias!r} of {name}")

    @router.get("/{name}/alias-history")
    def alias_history(
        name: ModelName, alias: Annotated[str | None, Query(max_length=64)] = None
    ) -> list[AliasMove]:
        """Every alias move, oldest first: who, when, from, to, why (append-only)."""
        return store.alias_history(name, alias)


def _found(value: T | None, what: str) -> T:
    if value is None:
        raise HTTPException(404, f"{what} not found")
    return value
