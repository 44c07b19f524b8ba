"""Bounds at the registry's HTTP boundary: body sizes, auth before any body, version numbers
within the database's range, finite metrics, valid Unicode."""

from __future__ import annotations

import json

import pytest

from services.common.http import DEFAULT_BODY_BYTES
from services.registry.http import MAX_ALIAS_BODY_BYTES
from services.registry.sql import MAX_VERSION
from services.registry.store import NotFound
from tests.service.common.asgi_stream import chunks_of, stream_request
from tests.service.registry.registry_harness import TOKEN, Registry
from tests.unit.registry.registry_samples import make_card, make_onnx

AUTH = {"Authorization": f"Bearer {TOKEN}"}
CHUNK = 64 * 1024
# Far more than any limit: a server that held it would show it (the chunks are made lazily).
ENDLESS = 200 * 1024 * 1024 // CHUNK


@pytest.mark.parametrize("version", [0, -1, MAX_VERSION + 1, 2**63, 2**64, 10**30])
async def test_versions_beyond_the_database_range_are_422(registry: Registry, version: int) -> None:
    await registry.upload(make_card(), make_onnx())
    client = registry.client
    for path in ("", "/details", "/artifact"):
        response = await client.get(f"/models/house-prices/versions/{version}{path}")
        assert response.status_code == 422, (path, response.text)
        [issue] = response.json()["detail"]
        assert issue["loc"] == ["path", "version"]
    promote = await client.post(
        f"/models/house-prices/versions/{version}/promote", json={"reason": "x"}, headers=AUTH
    )
    assert promote.status_code == 422


def test_the_store_treats_unstorable_versions_as_absent(registry: Registry) -> None:
    store = registry.app.state.store
    for version in (0, MAX_VERSION + 1, 2**63, 2**70):
        assert store.version("house-prices", version) is None
        assert store.details("house-prices", version) is None
        with pytest.raises(NotFound):
            store.promote("house-prices", version, "test", "out of range")


@pytest.mark.parametrize(
    ("metric", "value"), [("mae", "Infinity"), ("r2", "NaN"), ("training_seconds", "-Infinity")]
)
async def test_a_non_finite_metric_is_refused_not_stored(
    registry: Registry, metric: str, value: str
) -> None:
    card = json.loads(make_card().model_dump_json())
    card["metrics"][metric] = "<value>"
    response = await registry.client.post(
        "/models/house-prices/versions",
        files={"artifact": ("model.onnx", make_onnx())},
        data={"card": json.dumps(card).replace('"<value>"', value)},
        headers=AUTH,
    )
    assert response.status_code == 422, response.text
    assert "finite" in response.json()["detail"]
    assert registry.nothing_written()
    assert (await registry.client.get("/models")).status_code == 200


async def test_a_metric_the_contract_does_not_name_is_refused_not_stored(
    registry: Registry,
) -> None:
    card = json.loads(make_card().model_dump_json())
    card["metrics"]["drift"] = 0.3
    response = await registry.client.post(
        "/models/house-prices/versions",
        files={"artifact": ("model.onnx", make_onnx())},
        data={"card": json.dumps(card)},
        headers=AUTH,
    )
    assert response.status_code == 422, response.text
    assert "metrics.drift: Extra inputs are not permitted" in response.json()["detail"]
    assert registry.nothing_written()


async def test_a_malformed_write_without_the_token_is_401(registry: Registry) -> None:
    client = registry.client
    for path in ("/models/house-prices/versions/1/promote", "/models/house-prices/rollback"):
        for body in (b"{not json", b"\xff\xfe", b'{"reason": ""}'):
            response = await client.post(path, content=body)
            assert response.status_code == 401, (path, body, response.text)
    junk = await client.post(
        "/models/house-prices/versions",
        content=b"--x\r\nnot a form",
        headers={"Content-Type": "multipart/form-data; boundary=x"},
    )
    assert junk.status_code == 401


async def test_an_unauthenticated_upload_is_refused_before_its_body_is_read(
    registry: Registry,
) -> None:
    answer = await stream_request(
        registry.app,
        "POST",
        "/models/house-prices/versions",
        chunks_of(CHUNK, ENDLESS),
        {"Content-Type": "multipart/form-data; boundary=x"},
    )
    assert answer.status == 401
    assert answer.chunks_read == 0


async def test_a_declared_body_over_the_limit_is_refused_unread(registry: Registry) -> None:
    limit = MAX_ALIAS_BODY_BYTES
    answer = await stream_request(
        registry.app,
        "POST",
        "/models/house-prices/rollback",
        chunks_of(CHUNK, ENDLESS),
        {**AUTH, "Content-Type": "application/json", "Content-Length": str(limit + 1)},
    )
    assert answer.status == 413
    assert answer.chunks_read == 0
    assert f"limit of {limit} bytes" in json.loads(answer.body)["detail"]


@pytest.mark.parametrize(
    ("path", "limit"),
    [
        ("/models/house-prices/rollback", MAX_ALIAS_BODY_BYTES),
        ("/models/house-prices/versions/1/promote", MAX_ALIAS_BODY_BYTES),
        ("/models", DEFAULT_BODY_BYTES),  # a route that takes no body
    ],
)
async def test_a_streamed_body_is_refused_at_its_limit(
    registry: Registry, path: str, limit: int
) -> None:
    small = 1024
    answer = await stream_request(
        registry.app,
        "POST" if path != "/models" else "GET",
        path,
        chunks_of(small, ENDLESS),
        {**AUTH, "Content-Type": "application/json"},
    )
    if path == "/models":  # a read never pulls its body in: nothing to count, nothing held
        assert answer.status == 200
        assert answer.bytes_read <= small
        return
    assert answer.status == 413, answer.body
    assert answer.bytes_read == limit - limit % small + small  # the first chunk past the limit


async def test_an_upload_over_its_limit_is_refused_while_streaming(registry: Registry) -> None:
    answer = await stream_request(
        registry.app,
        "POST",
        "/models/house-prices/versions",
        (
            b'--x\r\nContent-Disposition: form-data; name="artifact"; filename="m"\r\n\r\n',
            *chunks_of(CHUNK, ENDLESS),
        ),
        {**AUTH, "Content-Type": "multipart/form-data; boundary=x"},
    )
    assert answer.status == 413
    limit = registry.settings.max_artifact_bytes
    assert answer.bytes_read < limit + 2 * 1024 * 1024  # the artifact, the card and framing
    assert registry.nothing_written()


@pytest.mark.parametrize("escape", ["\\ud800", "\\udfff", "\\ud800\\u0041"])
async def test_lone_surrogates_in_bodies_are_422(registry: Registry, escape: str) -> None:
    await registry.upload(make_card(), make_onnx())
    await registry.upload(make_card(rmse=20.0), make_onnx())
    promote = await registry.client.post(
        "/models/house-prices/versions/2/promote",
        content=f'{{"reason": "a{escape}b"}}'.encode(),
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert promote.status_code == 422, promote.text
    card = make_card().model_dump_json().replace('"LinearRegression"', f'"L{escape}"')
    upload = await registry.client.post(
        "/models/house-prices/versions",
        files={"artifact": ("model.onnx", make_onnx())},
        data={"card": card},
        headers=AUTH,
    )
    assert upload.status_code == 422, upload.text
    assert len((await registry.client.get("/models/house-prices/versions")).json()) == 2


async def test_writes_declare_the_bearer_scheme_and_their_bodies(registry: Registry) -> None:
    document = (await registry.client.get("/openapi.json")).json()
    assert document["components"]["securitySchemes"]["registry token"]["scheme"] == "bearer"
    for path, method, media in [
        ("/models/{name}/versions", "post", "multipart/form-data"),
        ("/models/{name}/versions/{version}/promote", "post", "application/json"),
        ("/models/{name}/rollback", "post", "application/json"),
    ]:
        operation = document["paths"][path][method]
        assert operation["security"] == [{"registry token": []}]
        assert media in operation["requestBody"]["content"]
        assert {"401", "413", "422"} <= set(operation["responses"])
    version = document["paths"]["/models/{name}/versions/{version}"]["get"]["parameters"]
    assert [p["schema"].get("maximum") for p in version if p["name"] == "version"] == [MAX_VERSION]
