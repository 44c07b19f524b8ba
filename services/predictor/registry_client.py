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


class ArtifactTransferError(RegistryError):
    """A download cut short or altered in transit: the registry's copy may be fine, so retry."""


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
        """The artifact's bytes, checked against X-Content-SHA256 and the version's sha256.

        ArtifactTransferError when the transfer broke (cut connection, short body, bytes that
        differ from the registry's own hash); ArtifactIntegrityError when the registry's copy
        itself is not the registered artifact.
        """
        name = quote(version.model_name, safe="")
        label = f"{version.model_name} v{version.version}"
        response = await self._get_artifact(
            f"/models/{name}/versions/{version.version}/artifact", label
        )
        if response.status_code == httpx.codes.CONFLICT:  # the registry's copy fails its hash
            raise ArtifactIntegrityError(f"{label}: {response.text[:200]}")
        _raise_for_status(response)
        data = response.content
        _check_length(response, data, label)
        actual = sha256_hex(data)
        header = response.headers.get("X-Content-SHA256", "").lower()
        if not header:  # nothing proves what the registry meant to send
            raise ArtifactIntegrityError(f"{label}: no X-Content-SHA256 header")
        if header != actual:  # the registry's copy checks out; the bytes changed on the way
            raise ArtifactTransferError(
                f"{label}: downloaded sha256 {actual} != X-Content-SHA256 {header}"
            )
        if version.sha256.lower() != actual:
            raise ArtifactIntegrityError(
                f"{label}: downloaded sha256 {actual} != registered sha256 {version.sha256}"
            )
        return data

    async def _get_artifact(self, path: str, label: str) -> httpx.Response:
        try:
            return await self._http.get(path)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:  # never reached the registry
            raise RegistryError(f"registry unreachable at {self._http.base_url}: {exc}") from exc
        except httpx.HTTPError as exc:  # reached it, but the response broke off
            raise ArtifactTransferError(f"{label}: download interrupted: {exc!r}") from exc

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


def _check_length(response: httpx.Response, data: bytes, label: str) -> None:
    declared = response.headers.get("Content-Length")
    if response.headers.get("Content-Encoding"):  # the length is that of the encoded body
        return
    if declared is not None and declared.isdigit() and int(declared) != len(data):
        raise ArtifactTransferError(
            f"{label}: download interrupted: {len(data)} of {declared} bytes received"
        )
