import hashlib
from collections.abc import AsyncIterator

import pytest

from services.registry.config import Settings
from tests.service.registry.registry_harness import TOKEN, Registry, open_registry
from tests.unit.registry.registry_samples import make_card, make_onnx, make_spec_model


@pytest.fixture
async def checked_registry(settings: Settings) -> AsyncIterator[Registry]:
    async with open_registry(settings.model_copy(update={"spec_check": True})) as registry:
        yield registry


async def test_non_onnx_bytes_are_refused(registry: Registry) -> None:
    response = await registry.upload(make_card(), b"this is not a model")
    assert response.status_code == 422
    assert "not a loadable ONNX model" in response.json()["detail"]
    assert registry.nothing_written()


async def test_truncated_onnx_is_refused(registry: Registry) -> None:
    response = await registry.upload(make_card(), make_onnx()[:-25])
    assert response.status_code == 422
    assert "ONNX" in response.json()["detail"]
    assert registry.nothing_written()


async def test_missing_token_is_refused(registry: Registry) -> None:
    response = await registry.client.post(
        "/models/house-prices/versions",
        files={"artifact": ("model.onnx", make_onnx())},
        data={"card": make_card().model_dump_json()},
    )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert registry.nothing_written()


@pytest.mark.parametrize("token", ["wrong-token", TOKEN[:-1], TOKEN + "x", ""])
async def test_wrong_token_is_refused(registry: Registry, token: str) -> None:
    response = await registry.upload(make_card(), make_onnx(), token=token)
    assert response.status_code == 401
    assert registry.nothing_written()


async def test_other_auth_schemes_are_refused(registry: Registry) -> None:
    response = await registry.client.post(
        "/models/house-prices/versions",
        files={"artifact": ("model.onnx", make_onnx())},
        data={"card": make_card().model_dump_json()},
        headers={"Authorization": f"Basic {TOKEN}"},
    )
    assert response.status_code == 401
    assert registry.nothing_written()


async def test_wrong_token_wins_over_a_bad_body(registry: Registry) -> None:
    response = await registry.upload(make_card(), b"junk", token="wrong-token")
    assert response.status_code == 401


async def test_card_for_another_model_is_refused(registry: Registry) -> None:
    response = await registry.upload(
        make_card(name="other-model"), make_onnx(), name="house-prices"
    )
    assert response.status_code == 422
    assert "differs from the card" in response.json()["detail"]
    assert registry.nothing_written()


async def test_input_names_not_matching_the_card_are_refused(registry: Registry) -> None:
    card = make_card(inputs=[("area", "float"), ("stories", "float")])
    response = await registry.upload(card, make_onnx())
    assert response.status_code == 422
    assert "differ from the card's inputs" in response.json()["detail"]
    assert registry.nothing_written()


async def test_invalid_card_is_refused(registry: Registry) -> None:
    response = await registry.client.post(
        "/models/house-prices/versions",
        files={"artifact": ("model.onnx", make_onnx())},
        data={"card": '{"model_name": "house-prices"}'},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert response.status_code == 422
    assert "invalid model card" in response.json()["detail"]
    assert registry.nothing_written()


async def test_missing_artifact_is_refused(registry: Registry) -> None:
    response = await registry.client.post(
        "/models/house-prices/versions",
        data={"card": make_card().model_dump_json()},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert response.status_code == 422
    assert registry.nothing_written()


async def test_oversized_artifact_is_refused(registry: Registry) -> None:
    too_big = b"\0" * (registry.settings.max_artifact_bytes + 1)
    response = await registry.upload(make_card(), too_big)
    assert response.status_code == 413
    assert registry.nothing_written()


@pytest.mark.parametrize("name", ["House-Prices", "-x", "x.y", "a" * 65])
async def test_invalid_model_names_are_refused(registry: Registry, name: str) -> None:
    response = await registry.upload(make_card(), make_onnx(), name=name)
    assert response.status_code == 422
    assert registry.nothing_written()
    assert (await registry.client.get(f"/models/{name}/versions")).status_code == 422


@pytest.mark.parametrize("name", ["..", "..%2F..%2Fetc", "%2E%2E"])
async def test_path_traversal_never_reaches_the_store(registry: Registry, name: str) -> None:
    response = await registry.upload(make_card(), make_onnx(), name=name)
    assert response.status_code in (404, 422)
    assert registry.nothing_written()


async def test_a_refused_upload_is_announced(registry: Registry) -> None:
    card = make_card(inputs=[("area", "float"), ("stories", "float")])
    await registry.upload(card, make_onnx())
    [refused] = registry.refusals()
    assert (refused.model_name, refused.refused_by, refused.version) == (
        "house-prices",
        "registry",
        None,
    )
    assert "differ from the card's inputs" in refused.reason


async def test_a_hash_mismatch_is_refused(registry: Registry) -> None:
    artifact = make_onnx()
    response = await registry.client.post(
        "/models/house-prices/versions",
        files={"artifact": ("model.onnx", artifact)},
        data={"card": make_card().model_dump_json()},
        headers={"Authorization": f"Bearer {TOKEN}", "X-Content-SHA256": "0" * 64},
    )
    assert response.status_code == 422
    assert "sha256 mismatch" in response.json()["detail"]
    assert registry.nothing_written()
    matching = await registry.client.post(
        "/models/house-prices/versions",
        files={"artifact": ("model.onnx", artifact)},
        data={"card": make_card().model_dump_json()},
        headers={
            "Authorization": f"Bearer {TOKEN}",
            "X-Content-SHA256": hashlib.sha256(artifact).hexdigest().upper(),
        },
    )
    assert matching.status_code == 201


async def test_inputs_not_matching_the_spec_are_refused(checked_registry: Registry) -> None:
    # Card and ONNX agree, but two inputs are not features of the house-prices spec.
    response = await checked_registry.upload(make_card(), make_onnx())
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "do not match spec 'house-prices'" in detail
    assert "'bathrooms'" in detail
    assert checked_registry.nothing_written()
    card, artifact = make_spec_model()
    assert (await checked_registry.upload(card, artifact)).status_code == 201
