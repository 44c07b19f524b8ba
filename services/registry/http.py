"""The registry HTTP API: upload versions, read them, download artifacts, move aliases.

Reads are open; writes (upload, promote, rollback) need the bearer token, checked before their
body is read: a write without the token is refused before anything it sent is parsed or held.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any, TypeVar

from fastapi import (
    APIRouter,
    Depends,
    Header,
    HTTPException,
    Path,
    Query,
    Request,
    Response,
    Security,
)
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import UploadFile

from contracts import DatasetSpec, ModelCard, ModelEvent, ModelRefused, ModelVersion
from services.common.http import BodyLimit, problem_responses
from services.registry.aliases import AliasMove
from services.registry.artifacts import ArtifactCorrupted, ArtifactUnavailable, sha256_of
from services.registry.config import Settings
from services.registry.metrics import RegistryMetrics
from services.registry.outbox import Outbox
from services.registry.policy import CHAMPION, decide_promotion
from services.registry.spec_store import SpecStore
from services.registry.sql import MAX_VERSION
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
    check_card_fits,
    check_onnx,
    check_sha256,
    parse_card,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
B = TypeVar("B", bound=BaseModel)
Publish = Callable[[ModelEvent], Awaitable[object]]

# The card is a form field beside the artifact; Starlette's own cap on a text field is 1 MiB.
MAX_CARD_BYTES = 1024 * 1024
# Multipart boundaries and part headers around the artifact and the card.
MULTIPART_OVERHEAD_BYTES = 64 * 1024
# A promotion or rollback body: a reason of up to 500 characters, each at most a 12-byte
# JSON escape pair, and an actor of up to 100.
MAX_ALIAS_BODY_BYTES = 16 * 1024
# A data set's spec as JSON: room for thousands of features or categories.
MAX_SPEC_BODY_BYTES = 1024 * 1024

_NAME = r"[^/]+"
_READS = problem_responses(404, 422)
_WRITES = problem_responses(401, 404, 409, 413, 422)
_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["artifact", "card"],
                    "properties": {
                        "artifact": {
                            "type": "string",
                            "format": "binary",
                            "description": "the ONNX model",
                        },
                        "card": {"type": "string", "description": "contracts.ModelCard as JSON"},
                    },
                }
            }
        },
    }
}


class AliasRequest(BaseModel):
    """Body of a manual promotion or rollback."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500, description="why: kept in the history")
    actor: str = Field(
        default="api", min_length=1, max_length=100, description="who asks (declared)"
    )


_ALIAS_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": AliasRequest.model_json_schema()}},
    }
}


class AliasChangeResult(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    model_name: str
    champion: int
    moves: tuple[AliasMove, ...]


ModelName = Annotated[
    str,
    Path(
        pattern=ModelCard.model_fields["model_name"].metadata[0].pattern,
        description="lower-case letters, digits, '-' and '_'; up to 64 characters",
    ),
]
# Versions count from 1; the database holds them as 32-bit integers (PostgreSQL's INTEGER,
# the smaller of the two backends), so a larger number can name no version.
Version = Annotated[int, Path(ge=1, le=MAX_VERSION)]


def body_limits(settings: Settings) -> Sequence[BodyLimit]:
    """The longest body each write may send (every other route: services.common.http's default)."""
    upload = settings.max_artifact_bytes + MAX_CARD_BYTES + MULTIPART_OVERHEAD_BYTES
    return (
        BodyLimit("POST", f"/models/{_NAME}/versions", upload),
        BodyLimit("POST", f"/models/{_NAME}/versions/{_NAME}/promote", MAX_ALIAS_BODY_BYTES),
        BodyLimit("POST", f"/models/{_NAME}/rollback", MAX_ALIAS_BODY_BYTES),
        BodyLimit("PUT", f"/specs/{_NAME}", MAX_SPEC_BODY_BYTES),
    )


@dataclass(frozen=True)
class Upload:
    artifact: bytes  # at most the artifact limit + 1 byte, so that "too large" can be told
    card: str


async def read_upload(request: Request, max_artifact_bytes: int) -> Upload:
    """The upload's form, read (and spooled by Starlette) only once the token is checked."""
    form_limits = {"max_files": 1, "max_fields": 1, "max_part_size": MAX_CARD_BYTES}
    async with request.form(**form_limits) as form:
        artifact, card = form.get("artifact"), form.get("card")
        issues = []
        if not isinstance(artifact, UploadFile):
            issues.append(_missing("artifact", "a file part with the ONNX model"))
        if not isinstance(card, str):
            issues.append(_missing("card", "a text field with the model card as JSON"))
        if issues:
            raise RequestValidationError(issues)
        assert isinstance(artifact, UploadFile) and isinstance(card, str)
        return Upload(await artifact.read(max_artifact_bytes + 1), card)


def _missing(field: str, expected: str) -> dict[str, Any]:
    return {"type": "missing", "loc": ("body", field), "msg": f"Field required: {expected}"}


def json_body(model: type[B]) -> Callable[[Request], Awaitable[B]]:
    """A dependency reading the body as `model`; listed after the token check, so a request
    without the token is refused before its body is read."""

    async def parse(request: Request) -> B:
        try:
            return model.model_validate_json(await request.body())
        except ValidationError as exc:
            issues = exc.errors(include_url=False, include_input=False, include_context=False)
            raise RequestValidationError(
                [{**issue, "loc": ("body", *issue["loc"])} for issue in issues]
            ) from exc

    return parse


AliasBody = Annotated[AliasRequest, Depends(json_body(AliasRequest))]


# Documents the bearer scheme in the OpenAPI document; require_token does the checking.
_BEARER = HTTPBearer(
    auto_error=False, scheme_name="registry token", description="MLBUS_REGISTRY_TOKEN"
)


def bearer_check(settings: Settings) -> Callable[[HTTPAuthorizationCredentials | None], None]:
    expected = settings.token.get_secret_value().encode()

    def require_token(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER)],
    ) -> None:
        token = credentials.credentials.strip().encode() if credentials else b""
        # compare_digest: the comparison takes as long for a near miss as for a wild guess
        if not hmac.compare_digest(token, expected):
            raise HTTPException(
                401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"}
            )

    return require_token


def build_http_router(
    settings: Settings,
    store: RegistryStore,
    outbox: Outbox,
    metrics: RegistryMetrics,
    publish_refusal: Publish,
    specs: SpecStore,
) -> APIRouter:
    router = APIRouter(prefix="/models", tags=["registry"])
    _add_upload(router, settings, store, outbox, metrics, publish_refusal, specs)
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
    specs: SpecStore,
) -> None:
    policy = partial(decide_promotion, margin=settings.promotion_margin)

    def specs_for(dataset: str) -> list[DatasetSpec]:
        """Its data set's current major in the spec store; else the start-up spec, if it is it.

        InvalidUpload for a retired data set."""
        retired = specs.retirement(dataset)
        if retired is not None:
            raise InvalidUpload(f"data set {dataset!r} is retired: {retired.reason}")
        stored = [version.spec for version in specs.current_major(dataset)]
        return stored or [spec for spec in (settings.spec,) if spec.name == dataset]

    @router.post(
        "/{name}/versions",
        status_code=201,
        dependencies=[Depends(bearer_check(settings))],
        responses=problem_responses(400, 401, 413, 422),
        openapi_extra=_UPLOAD_BODY,
    )
    async def upload_version(
        name: ModelName,
        request: Request,
        x_content_sha256: Annotated[
            str | None, Header(description="sha256 of the artifact; refused if it differs")
        ] = None,
    ) -> ModelVersion:
        """Register a version; the promotion policy decides champion or challenger."""
        upload = await read_upload(request, settings.max_artifact_bytes)
        data, card = upload.artifact, upload.card
        try:
            if len(data) > settings.max_artifact_bytes:
                raise InvalidUpload(f"artifact larger than {settings.max_artifact_bytes} bytes")
            check_sha256(sha256_of(data), x_content_sha256)
            model_card = parse_card(card, name)
            if settings.spec_check:
                check_card_fits(model_card, await asyncio.to_thread(specs_for, model_card.dataset))
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
        "dependencies": [Depends(bearer_check(settings))],
        "responses": _WRITES,
        "openapi_extra": _ALIAS_BODY,
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
    async def promote(name: ModelName, version: Version, body: AliasBody) -> AliasChangeResult:
        """Make this version the champion by hand (ModelPromoted)."""
        result = await apply(name, partial(store.promote, name, version, body.actor, body.reason))
        metrics.promotions.inc()
        return result

    @router.post("/{name}/rollback", **writes)
    async def rollback(name: ModelName, body: AliasBody) -> AliasChangeResult:
        """Give the champion alias back to the previous champion (ModelRolledBack)."""
        return await apply(name, partial(store.rollback, name, body.actor, body.reason))


def _add_reads(router: APIRouter, store: RegistryStore) -> None:
    @router.get("", responses=problem_responses(422))
    def list_models() -> list[ModelSummary]:
        """Every model with its latest version number and aliases."""
        return store.list_models()

    @router.get("/{name}/versions", responses=_READS)
    def list_versions(name: ModelName) -> list[ModelVersion]:
        return store.versions(name)

    @router.get("/{name}/versions/{version}", responses=_READS)
    def get_version(name: ModelName, version: Version) -> ModelVersion:
        return _found(store.version(name, version), f"{name} v{version}")

    @router.get("/{name}/versions/{version}/details", responses=_READS)
    def get_details(name: ModelName, version: Version) -> VersionDetails:
        """The version, its parent champion, the policy's decision and its ONNX signature."""
        return _found(store.details(name, version), f"{name} v{version}")

    @router.get(
        "/{name}/versions/{version}/artifact",
        response_class=Response,
        responses={
            200: {"content": {"application/octet-stream": {}}},
            **problem_responses(404, 409, 422, 503),
        },
    )
    def download_artifact(name: ModelName, version: Version) -> Response:
        """The ONNX bytes, verified against their sha256 (also in X-Content-SHA256)."""
        return _artifact_response(store, name, version)

    @router.get("/{name}/aliases/{alias}", responses=_READS)
    def get_alias(name: ModelName, alias: Annotated[str, Path(max_length=64)]) -> ModelVersion:
        return _found(store.by_alias(name, alias), f"alias {alias!r} of {name}")

    @router.get("/{name}/alias-history", responses=problem_responses(422))
    def alias_history(
        name: ModelName, alias: Annotated[str | None, Query(max_length=64)] = None
    ) -> list[AliasMove]:
        """Every alias move, oldest first: who, when, from, to, why (append-only)."""
        return store.alias_history(name, alias)


def _artifact_response(store: RegistryStore, name: str, version: int) -> Response:
    """The stored ONNX bytes of a version, or the HTTP error that says why not."""
    try:
        found = store.artifact(name, version)
    except (ArtifactCorrupted, FileNotFoundError) as exc:
        # 409, not 500: the request is fine, the stored artifact conflicts with its hash.
        # Clients treat it as a refused model rather than a registry that is down.
        log.error("registry: artifact of %s v%d unusable: %s", name, version, exc)
        raise HTTPException(
            409, f"artifact_corrupted: stored artifact of {name} v{version} is unusable"
        ) from exc
    except ArtifactUnavailable as exc:  # the bucket is down: the predictor tries again
        log.error("registry: artifact of %s v%d unreachable: %s", name, version, exc)
        raise HTTPException(503, f"artifact storage unavailable: {exc}") from exc
    stored, data = _found(found, f"{name} v{version}")
    return Response(
        content=data,
        media_type="application/octet-stream",
        headers={
            "X-Content-SHA256": stored.sha256,
            "Content-Disposition": f'attachment; filename="{name}-v{version}.onnx"',
        },
    )


def _found(value: T | None, what: str) -> T:
    if value is None:
        raise HTTPException(404, f"{what} not found")
    return value
