"""Uploads a trained model to the registry's HTTP API."""

from __future__ import annotations

import httpx
from pydantic import SecretStr, ValidationError

from contracts import ModelCard, ModelVersion


class RegistryError(RuntimeError):
    """The registry refused an upload or could not be reached."""


class RegistryClient:
    """POST /models/{name}/versions with the ONNX bytes and the card, as a bearer-token client."""

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
