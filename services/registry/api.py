"""The registry HTTP API: upload versions, list and read them, download artifacts, aliases."""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Callable
from functools import partial
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, File, Form, Header, HTTPException, Response, UploadFile

from contracts import ModelVersion
from services.registry.artifacts import ArtifactCorrupted
from services.registry.config import Settings
from services.registry.metrics import RegistryMetrics
from services.registry.outbox import Outbox
from services.registry.policy import decide_promotion
from services.registry.store import ModelSummary, RegistryStore
from services.registry.validation import (
    InvalidUpload,
    check_onnx,
    parse_card,
    validate_model_name,
)

log = logging.getLogger(__name__)
T = TypeVar("T")


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
    settings: Settings, store: RegistryStore, outbox: Outbox, metrics: RegistryMetrics
) -> APIRouter:
    router = APIRouter(prefix="/models", tags=["registry"])
    policy = partial(decide_promotion, margin=settings.promotion_margin)

    @router.post(
        "/{name}/versions",
        status_code=201,
        dependencies=[Depends(_bearer_check(settings))],
        responses={401: {"description": "missing or wrong token"}, 422: {"description": "refused"}},
    )
    async def upload_version(
        name: ModelName,
        artifact: Annotated[UploadFile, File(description="the ONNX model")],
        card: Annotated[str, Form(description="contracts.ModelCard as JSON")],
    ) -> ModelVersion:
        data = await artifact.read(settings.max_artifact_bytes + 1)
        if len(data) > settings.max_artifact_bytes:
            raise HTTPException(413, f"artifact larger than {settings.max_artifact_bytes} bytes")
        try:
            model_card = parse_card(card, name)
            await asyncio.to_thread(check_onnx, data, model_card)
        except InvalidUpload as exc:
            raise HTTPException(422, str(exc)) from exc
        registration = await asyncio.to_thread(store.register, model_card, data, policy)
        metrics.versions.inc()
        if registration.decision.promoted:
            metrics.promotions.inc()
        stored = registration.version
        decision = registration.decision
        log.info(
            "registry: %s v%d -> %s: %s", name, stored.version, decision.alias, decision.reason
        )
        await outbox.flush_within(settings.publish_timeout_seconds)
        return stored

    @router.get("")
    def list_models() -> list[ModelSummary]:
        return store.list_models()

    @router.get("/{name}/versions")
    def list_versions(name: ModelName) -> list[ModelVersion]:
        return store.versions(name)

    @router.get("/{name}/versions/{version}")
    def get_version(name: ModelName, version: int) -> ModelVersion:
        return _found(store.version(name, version), f"{name} v{version}")

    @router.get(
        "/{name}/versions/{version}/artifact",
        response_class=Response,
        responses={200: {"content": {"application/octet-stream": {}}}},
    )
    def download_artifact(name: ModelName, version: int) -> Response:
        try:
            found = store.artifact(name, version)
        except (ArtifactCorrupted, FileNotFoundError) as exc:
            log.error("registry: artifact of %s v%d unusable: %s", name, version, exc)
            raise HTTPException(500, f"stored artifact of {name} v{version} is unusable") from exc
        stored, data = _found(found, f"{name} v{version}")
        return Response(
            content=data,
            media_type="application/octet-stream",
            headers={
                "X-Content-SHA256": stored.sha256,
                "Content-Disposition": f'attachment; filename="{name}-v{version}.onnx"',
            },
        )

    @router.get("/{name}/aliases/{alias}")
    def get_alias(name: ModelName, alias: str) -> ModelVersion:
        return _found(store.by_alias(name, alias), f"alias {alias!r} of {name}")

    return router


def _found(value: T | None, what: str) -> T:
    if value is None:
        raise HTTPException(404, f"{what} not found")
    return value
