"""Uploads a trained model to the registry's HTTP API."""

from __future__ import annotations

import hashlib

import httpx
from pydantic import SecretStr, TypeAdapter, ValidationError

from contracts import ModelCard, ModelVersion
from services.trainer.training import Champion


class RegistryError(RuntimeError):
    """The registry refused an upload or could not be reached."""


_VERSIONS = TypeAdapter(list[ModelVersion])


class RegistryClient:
    """Uploads versions (bearer token) and downloads the champion of a model."""

    def __init__(
        self,
        base_url: str,
        token: SecretStr,
        *,
        timeout_seconds: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._timeout = timeout_seconds
        self._transport = transport  # tests hand in an httpx.MockTransport or ASGITransport

    async def upload(self, onnx: bytes, card: ModelCard) -> ModelVersion:
        """The stored version; RegistryError on a transport error or a non-2xx answer."""
        url = f"{self.base_url}/models/{card.model_name}/versions"
        headers = {"Authorization": f"Bearer {self._token.get_secret_value()}"}
        files = {"artifact": (f"{card.model_name}.onnx", onnx, "application/octet-stream")}
        try:
            async with httpx.AsyncClient(timeout=self._timeout, transport=self._transport) as http:
                response = await http.post(
                    url, headers=headers, files=files, data={"card": card.model_dump_json()}
                )
        except httpx.HTTPError as exc:
            raise RegistryError(f"upload to {url} failed: {exc!r}") from exc
        if not response.is_success:
            raise RegistryError(
                f"registry answered {response.status_code} to POST {url}: {response.text[:500]}"
            )
        try:
            return ModelVersion.model_validate_json(response.content)
        except ValidationError as exc:
            raise RegistryError(f"registry answered {url} with no ModelVersion: {exc}") from exc

    async def champion(self, model_name: str) -> Champion | None:
        """The `champion` alias's version and ONNX bytes (hash checked); None if unset."""
        base = f"{self.base_url}/models/{model_name}"
        try:
            async with httpx.AsyncClient(timeout=self._timeout, transport=self._transport) as http:
                alias = await http.get(f"{base}/aliases/champion")
                if alias.status_code == 404:
                    return None
                version = _version(alias, f"{base}/aliases/champion")
                url = f"{base}/versions/{version.version}/artifact"
                artifact = await http.get(url)
        except httpx.HTTPError as exc:
            raise RegistryError(f"cannot read the champion of {model_name}: {exc!r}") from exc
        if not artifact.is_success:
            raise RegistryError(f"registry answered {artifact.status_code} to GET {url}")
        digest = hashlib.sha256(artifact.content).hexdigest()
        if digest != version.sha256:
            raise RegistryError(f"{url}: sha256 {digest} differs from the version's")
        card = version.card
        return Champion(
            version=version.version,
            onnx=artifact.content,
            holdout_fraction=card.metrics.holdout_fraction,
            classes=card.classes,
        )

    async def latest_version(self, model_name: str) -> ModelVersion | None:
        """The highest version of `model_name`; None if it has none (404 or an empty list)."""
        url = f"{self.base_url}/models/{model_name}/versions"
        try:
            async with httpx.AsyncClient(timeout=self._timeout, transport=self._transport) as http:
                response = await http.get(url)
        except httpx.HTTPError as exc:
            raise RegistryError(f"cannot list the versions of {model_name}: {exc!r}") from exc
        if response.status_code == 404:
            return None
        if not response.is_success:
            raise RegistryError(f"registry answered {response.status_code} to GET {url}")
        try:
            versions = _VERSIONS.validate_json(response.content)
        except ValidationError as exc:
            raise RegistryError(f"registry answered {url} with no version list: {exc}") from exc
        return max(versions, key=lambda v: v.version, default=None)


def _version(response: httpx.Response, url: str) -> ModelVersion:
    if not response.is_success:
        raise RegistryError(f"registry answered {response.status_code} to GET {url}")
    try:
        return ModelVersion.model_validate_json(response.content)
    except ValidationError as exc:
        raise RegistryError(f"registry answered {url} with no ModelVersion: {exc}") from exc
