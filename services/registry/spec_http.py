"""The registry's /specs API: data set specs as versioned data (writes need the token).

PUT /specs/{name} stores the body as the next version when it differs from the latest (201),
or answers the latest (200) when it is the same spec: repeating a PUT changes nothing. A new
version must be compatible with the latest (services.registry.spec_compat), else 409 with
every reason, unless `?major=true` declares it a new major version. POST /specs/{name}/retire
retires a data set (SpecRetired on registry.specs.v1); retiring it again changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from contracts import DatasetSpec
from services.common.http import problem_responses
from services.registry.http import bearer_check, json_body
from services.registry.spec_store import (
    Incompatible,
    Retirement,
    SpecStore,
    SpecSummary,
    SpecVersion,
)
from services.registry.sql import MAX_VERSION

if TYPE_CHECKING:
    from services.registry.config import Settings
    from services.registry.outbox import Outbox

log = logging.getLogger(__name__)

DatasetName = Annotated[
    str,
    Path(
        pattern=DatasetSpec.model_fields["name"].metadata[-1].pattern,
        max_length=64,
        description="the data set's name, as in its spec",
    ),
]
SpecNumber = Annotated[int, Path(ge=1, le=MAX_VERSION)]


# The body's schema: the DatasetSpec component, there for the responses that carry a spec.
_SPEC_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DatasetSpec"}}},
    }
}


SpecBody = Annotated[DatasetSpec, Depends(json_body(DatasetSpec))]


class RetireRequest(BaseModel):
    """The optional body of POST /specs/{name}/retire."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reason: str = Field(default="no reason given", min_length=1, max_length=500)


async def retire_body(request: Request) -> RetireRequest:
    """The body as a RetireRequest; an empty body gives the default reason."""
    if not (await request.body()).strip():
        return RetireRequest()
    return await json_body(RetireRequest)(request)


class RetirePost(Retirement):
    """The answer of a retirement: the data set's, and whether this request retired it."""

    dataset: str
    created: bool


class SpecPut(SpecVersion):
    """The answer of a PUT: the version holding the spec, and whether this PUT stored it."""

    created: bool


def build_spec_router(settings: Settings, specs: SpecStore, outbox: Outbox) -> APIRouter:
    router = APIRouter(prefix="/specs", tags=["specs"])
    _add_put(router, settings, specs, outbox)
    _add_retire(router, settings, specs, outbox)
    _add_reads(router, specs)
    return router


def _add_put(router: APIRouter, settings: Settings, specs: SpecStore, outbox: Outbox) -> None:
    @router.put(
        "/{name}",
        status_code=201,
        dependencies=[Depends(bearer_check(settings))],
        responses={200: {"model": SpecPut}, **problem_responses(401, 409, 413, 422)},
        openapi_extra=_SPEC_BODY,
    )
    async def put_spec(
        name: DatasetName,
        spec: SpecBody,
        response: Response,
        major: Annotated[
            bool, Query(description="store an incompatible spec as a new major version")
        ] = False,
    ) -> SpecPut:
        """Store a new version of the data set's spec (SpecRegistered on registry.specs.v1)."""
        if spec.name != name:
            raise HTTPException(422, f"the spec names data set {spec.name!r}, the path {name!r}")
        try:
            written = await asyncio.to_thread(specs.register, spec, major=major)
        except Incompatible as exc:
            raise HTTPException(409, str(exc)) from exc
        if not written.created:
            response.status_code = 200
            return SpecPut(**written.stored.model_dump(), created=False)
        log.info("registry: spec %s v%d stored", name, written.stored.version)
        await outbox.flush_within(settings.publish_timeout_seconds)  # after the commit
        return SpecPut(**written.stored.model_dump(), created=True)


def _add_retire(router: APIRouter, settings: Settings, specs: SpecStore, outbox: Outbox) -> None:
    @router.post(
        "/{name}/retire",
        dependencies=[Depends(bearer_check(settings))],
        responses=problem_responses(401, 404, 422),
    )
    async def retire_spec(
        name: DatasetName, body: Annotated[RetireRequest, Depends(retire_body)]
    ) -> RetirePost:
        """Retire the data set (SpecRetired on registry.specs.v1): its records are dead-lettered,
        its models stay; registering a new version brings it back."""
        written = await asyncio.to_thread(specs.retire, name, body.reason)
        if written is None:
            raise HTTPException(404, f"spec of {name} not found")
        if written.created:
            log.info("registry: data set %s retired: %s", name, body.reason)
            await outbox.flush_within(settings.publish_timeout_seconds)  # after the commit
        return RetirePost(**written.retirement.model_dump(), dataset=name, created=written.created)


def _add_reads(router: APIRouter, specs: SpecStore) -> None:
    @router.get("", responses=problem_responses(422))
    def list_specs() -> list[SpecSummary]:
        """Every data set with its latest spec version, target task and feature count."""
        return specs.list_specs()

    @router.get("/{name}", responses=problem_responses(404, 422))
    def latest_spec(name: DatasetName) -> SpecVersion:
        """The latest version of the data set's spec."""
        return _found(specs.latest(name), f"spec of {name}")

    @router.get("/{name}/versions/{version}", responses=problem_responses(404, 422))
    def spec_version(name: DatasetName, version: SpecNumber) -> SpecVersion:
        return _found(specs.version(name, version), f"spec of {name} v{version}")


def _found(value: SpecVersion | None, what: str) -> SpecVersion:
    if value is None:
        raise HTTPException(404, f"{what} not found")
    return value
