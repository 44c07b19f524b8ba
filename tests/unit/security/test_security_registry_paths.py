"""The registry takes no path from user input: traversal names are refused, nothing escapes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from services.registry.app import create_app
from services.registry.artifacts import ArtifactStore
from services.registry.config import Settings

TOKEN = "registry-path-tests-token-7d1f9b3e5a2c8e4b6f0a"
TRAVERSALS = (
    "..",
    "../../etc/passwd",
    "..%2F..%2Fetc%2Fpasswd",
    "%2e%2e",
    "a%00b",
    "..\\..\\windows",
    "/etc/passwd",
    "House-Prices",
    ".hidden",
)


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(token=TOKEN, data_dir=tmp_path / "data")
    app = create_app(settings)  # no lifespan: no broker needed for refusals and reads
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://registry") as http:
        yield http


@pytest.mark.parametrize("name", TRAVERSALS)
async def test_reads_with_traversal_names_are_refused(client: httpx.AsyncClient, name: str) -> None:
    for path in (f"/models/{name}/versions", f"/models/{name}/versions/1/artifact"):
        response = await client.get(path)
        assert response.status_code in (404, 422), (path, response.status_code)
        assert b"root:" not in response.content


@pytest.mark.parametrize("name", TRAVERSALS)
async def test_uploads_with_traversal_names_store_nothing(
    client: httpx.AsyncClient, name: str, tmp_path: Path
) -> None:
    before = {p for p in tmp_path.rglob("*") if p.is_file()}
    response = await client.post(
        f"/models/{name}/versions",
        headers={"Authorization": f"Bearer {TOKEN}"},
        files={"artifact": ("../../evil.onnx", b"\x08\x07not-onnx", "application/octet-stream")},
        data={"card": "{}"},
    )
    assert response.status_code in (404, 405, 422), response.status_code
    after = {p for p in tmp_path.rglob("*") if p.is_file()}
    assert not [p for p in after - before if p.suffix == ".onnx"]
    assert not (tmp_path.parent / "evil.onnx").exists()


async def test_uploads_without_the_token_are_refused(client: httpx.AsyncClient) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        response = await client.post(
            "/models/house-prices/versions",
            headers=headers,
            files={"artifact": ("m.onnx", b"x", "application/octet-stream")},
            data={"card": "{}"},
        )
        assert response.status_code == 401, (headers, response.status_code)


@pytest.mark.parametrize("digest", ["../x", "a" * 63, "A" * 64, "g" * 64, "a" * 64 + "/.."])
def test_artifact_paths_accept_only_sha256_digests(tmp_path: Path, digest: str) -> None:
    store = ArtifactStore(tmp_path)
    with pytest.raises(ValueError, match="sha256"):
        store.path_of(digest)
    assert store.path_of("a" * 64).parent == tmp_path
