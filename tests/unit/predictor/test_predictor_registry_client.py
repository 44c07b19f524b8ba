"""RegistryClient against a mock transport speaking the registry's HTTP API."""

from __future__ import annotations

import httpx
import pytest

from contracts import ModelVersion
from services.predictor.registry_client import (
    ArtifactIntegrityError,
    ArtifactTransferError,
    RegistryClient,
    RegistryError,
)
from tests.unit.predictor.predictor_fixtures import model_version, sha256

ARTIFACT = b"onnx-bytes-of-version-4"


def _client(handler: httpx.MockTransport) -> RegistryClient:
    return RegistryClient("http://registry.test", transport=handler)


def _registry(version: ModelVersion | None, header: str | None) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/models/house-prices/aliases/champion":
            if version is None:
                return httpx.Response(404, json={"detail": "alias not set"})
            return httpx.Response(200, content=version.model_dump_json())
        if path == "/models/house-prices/versions/4/artifact":
            headers = {} if header is None else {"X-Content-SHA256": header}
            return httpx.Response(200, content=ARTIFACT, headers=headers)
        return httpx.Response(404)

    return httpx.MockTransport(handle)


async def test_champion_is_fetched_and_downloaded_with_both_hashes_checked() -> None:
    version = model_version(4, ARTIFACT)
    client = _client(_registry(version, sha256(ARTIFACT)))
    champion = await client.champion("house-prices")
    assert champion == version
    assert await client.download(version) == ARTIFACT
    await client.aclose()


async def test_no_champion_is_none() -> None:
    client = _client(_registry(None, None))
    assert await client.champion("house-prices") is None


async def test_download_without_the_registry_hash_is_an_integrity_error() -> None:
    version = model_version(4, ARTIFACT)
    client = _client(_registry(version, None))
    with pytest.raises(ArtifactIntegrityError, match="X-Content-SHA256"):
        await client.download(version)


async def test_bytes_that_do_not_match_the_header_are_a_transfer_error_to_retry() -> None:
    version = model_version(4, ARTIFACT)
    client = _client(_registry(version, "ab" * 32))
    with pytest.raises(ArtifactTransferError, match="X-Content-SHA256"):
        await client.download(version)


async def test_a_body_shorter_than_its_content_length_is_an_interrupted_download() -> None:
    version = model_version(4, ARTIFACT)
    half = ARTIFACT[: len(ARTIFACT) // 2]
    headers = {"X-Content-SHA256": sha256(ARTIFACT), "Content-Length": str(len(ARTIFACT))}
    short = httpx.Response(200, content=half, headers=headers)
    client = _client(httpx.MockTransport(lambda _: short))
    with pytest.raises(ArtifactTransferError, match=f"{len(half)} of {len(ARTIFACT)} bytes"):
        await client.download(version)


async def test_a_connection_cut_mid_body_is_an_interrupted_download() -> None:
    def cut(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("peer closed connection", request=request)

    client = _client(httpx.MockTransport(cut))
    with pytest.raises(ArtifactTransferError, match="download interrupted"):
        await client.download(model_version(4, ARTIFACT))


async def test_a_registry_not_listening_stays_unreachable_for_downloads() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = _client(httpx.MockTransport(refuse))
    with pytest.raises(RegistryError, match="unreachable") as raised:
        await client.download(model_version(4, ARTIFACT))
    assert not isinstance(raised.value, ArtifactTransferError)


async def test_download_refuses_bytes_that_do_not_match_the_registered_sha256() -> None:
    version = model_version(4, ARTIFACT, sha="cd" * 32)
    client = _client(_registry(version, sha256(ARTIFACT)))
    with pytest.raises(ArtifactIntegrityError, match="registered sha256"):
        await client.download(version)


async def test_an_artifact_the_registry_finds_corrupted_is_an_integrity_error() -> None:
    conflict = httpx.Response(409, json={"detail": "artifact_corrupted: v4 is unusable"})
    client = _client(httpx.MockTransport(lambda _: conflict))
    with pytest.raises(ArtifactIntegrityError, match="artifact_corrupted"):
        await client.download(model_version(4, ARTIFACT))


async def test_server_errors_and_unreachable_registry_are_registry_errors() -> None:
    failing = _client(httpx.MockTransport(lambda _: httpx.Response(503, text="starting")))
    with pytest.raises(RegistryError, match="503"):
        await failing.champion("house-prices")

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(RegistryError, match="unreachable"):
        await _client(httpx.MockTransport(refuse)).champion("house-prices")


async def test_an_invalid_answer_is_a_registry_error() -> None:
    client = _client(httpx.MockTransport(lambda _: httpx.Response(200, json={"version": 1})))
    with pytest.raises(RegistryError, match="invalid model version"):
        await client.champion("house-prices")
