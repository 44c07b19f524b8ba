"""The registry's HTTP API as the predictor uses it: who is champion, and its artifact."""

from __future__ import annotations

from typing import Protocol
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from contracts import ModelVersion
from services.predictor.model import sha256_hex

CHAMPION = "champion"
CHALLENGER = "challenger"


class RegistryError(Exception):
    """The registry could not be asked, or answered something unusable."""


class ArtifactIntegrityError(RegistryError):
    """Downloaded bytes whose sha256 differs from what the registry says they are."""


class ModelSource(Protocol):
    """What the predictor needs from a registry; tests pass a fake."""

    async def alias(self, model_name: str, alias: str) -> ModelVersion | None: ...

    async def download(self, version: ModelVersion) -> bytes: ...


class RegistryClient:
    """ModelSource over the registry's HTTP API."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout_seconds: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url, timeout=timeout_seconds, transport=transport
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def champion(self, model_name: str) -> ModelVersion | None:
        """The champion's metadata, or None when the model has no champion yet."""
        return await self.alias(model_name, CHAMPION)

    async def alias(self, model_name: str, alias: str) -> ModelVersion | None:
        """The version holding `alias`, or None when the alias is unset."""
        name, alias = quote(model_name, safe=""), quote(alias, safe="")
        response = await self._get(f"/models/{name}/aliases/{alias}")
        if response.status_code == httpx.codes.NOT_FOUND:
            return None
        _raise_for_status(response)
        try:
            return ModelVersion.model_validate_json(response.content)
        except ValidationError as exc:
            raise RegistryError(f"registry sent an invalid model version: {exc}") from exc

    async def download(self, version: ModelVersion) -> bytes:
        """The artifact's bytes, checked against X-Content-SHA256 and the version's sha256."""
        name = quote(version.model_name, safe="")
        response = await self._get(f"/models/{name}/versions/{version.version}/artifact")
        label = f"{version.model_name} v{version.version}"
        if response.status_code == httpx.codes.CONFLICT:  # the registry's copy fails its hash
            raise ArtifactIntegrityError(f"{label}: {response.text[:200]}")
        _raise_for_status(response)
        data = response.content
        actual = sha256_hex(data)
        header = response.headers.get("X-Content-SHA256", "").lower()
        if header != actual:
            raise ArtifactIntegrityError(
                f"{label}: downloaded sha256 {actual} != X-Content-SHA256 {header or '(absent)'}"
            )
        if version.sha256.lower() != actual:
            raise ArtifactIntegrityError(
                f"{label}: downloaded sha256 {actual} != registered sha256 {version.sha256}"
            )
        return data

    async def _get(self, path: str) -> httpx.Response:
        try:
            return await self._http.get(path)
        except httpx.HTTPError as exc:
            raise RegistryError(f"registry unreachable at {self._http.base_url}: {exc}") from exc


def _raise_for_status(response: httpx.Response) -> None:
    if response.is_success:
        return
    raise RegistryError(
        f"registry answered {response.status_code} to GET {response.url}: {response.text[:200]}"
    )
