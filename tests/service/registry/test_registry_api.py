import hashlib

import pytest

from contracts import ModelPromoted, ModelRegistered, ModelVersion
from tests.service.registry.registry_harness import Registry
from tests.unit.registry.registry_samples import make_card, make_onnx


async def test_first_upload_becomes_champion_and_is_announced(registry: Registry) -> None:
    artifact = make_onnx()
    response = await registry.upload(make_card(rmse=10.0), artifact)
    assert response.status_code == 201
    stored = ModelVersion.model_validate(response.json())
    assert (stored.model_name, stored.version, stored.aliases) == ("house-prices", 1, ("champion",))
    assert stored.sha256 == hashlib.sha256(artifact).hexdigest()
    assert stored.size_bytes == len(artifact)
    assert stored.card == make_card(rmse=10.0)

    registered, promoted = registry.captured.events
    assert isinstance(registered, ModelRegistered)
    assert (registered.version, registered.sha256) == (1, stored.sha256)
    assert registered.metrics.rmse == 10.0
    assert isinstance(promoted, ModelPromoted)
    assert (promoted.version, promoted.alias, promoted.previous_version) == (1, "champion", None)
    assert registry.captured.keys == [b"house-prices", b"house-prices"]
    assert await registry.metric("mlbus_registry_versions_total") == 1.0
    assert await registry.metric("mlbus_registry_promotions_total") == 1.0


async def test_versions_can_be_listed_read_and_downloaded(registry: Registry) -> None:
    artifact = make_onnx()
    await registry.upload(make_card(rmse=10.0), artifact)
    await registry.upload(make_card(rmse=11.0), make_onnx(weights=(1.0, 1.0)))

    models = (await registry.client.get("/models")).json()
    assert models == [
        {
            "model_name": "house-prices",
            "latest_version": 2,
            "aliases": {"champion": 1, "challenger": 2},
            "champion": {
                "version": 1,
                "dataset": "house-prices",
                "task": "regression",
                "metric": "rmse",
                "scores": {"rmse": 10.0, "mae": 5.0, "r2": 0.8},
            },
        }
    ]
    versions = (await registry.client.get("/models/house-prices/versions")).json()
    assert [(v["version"], v["aliases"]) for v in versions] == [
        (1, ["champion"]),
        (2, ["challenger"]),
    ]

    first = await registry.client.get("/models/house-prices/versions/1")
    assert first.status_code == 200
    assert ModelVersion.model_validate(first.json()).sha256 == hashlib.sha256(artifact).hexdigest()

    download = await registry.client.get("/models/house-prices/versions/1/artifact")
    assert download.status_code == 200
    assert download.content == artifact
    assert download.headers["X-Content-SHA256"] == hashlib.sha256(artifact).hexdigest()
    assert download.headers["content-type"] == "application/octet-stream"


async def test_aliases_resolve_to_versions(registry: Registry) -> None:
    await registry.upload(make_card(rmse=10.0), make_onnx())
    champion = await registry.client.get("/models/house-prices/aliases/champion")
    assert champion.status_code == 200
    assert champion.json()["version"] == 1
    unset = await registry.client.get("/models/house-prices/aliases/challenger")
    assert unset.status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/models/house-prices/versions/1",
        "/models/house-prices/versions/1/artifact",
        "/models/house-prices/aliases/champion",
        f"/models/house-prices/versions/{2**31 - 1}",  # the highest number a version can have
    ],
)
async def test_absent_versions_and_aliases_are_404(registry: Registry, path: str) -> None:
    assert (await registry.client.get(path)).status_code == 404


async def test_unknown_model_has_no_versions(registry: Registry) -> None:
    assert (await registry.client.get("/models")).json() == []
    assert (await registry.client.get("/models/house-prices/versions")).json() == []


async def test_worse_version_stays_challenger(registry: Registry) -> None:
    await registry.upload(make_card(rmse=10.0), make_onnx())
    response = await registry.upload(make_card(rmse=12.0), make_onnx(weights=(1.0, 1.0)))
    assert response.status_code == 201
    assert response.json()["aliases"] == ["challenger"]
    champion = (await registry.client.get("/models/house-prices/aliases/champion")).json()
    assert champion["version"] == 1
    assert [type(e).__name__ for e in registry.captured.events] == [
        "ModelRegistered",
        "ModelPromoted",
        "ModelRegistered",
    ]
    assert await registry.metric("mlbus_registry_versions_total") == 2.0
    assert await registry.metric("mlbus_registry_promotions_total") == 1.0


async def test_better_version_is_promoted(registry: Registry) -> None:
    await registry.upload(make_card(rmse=10.0), make_onnx())
    await registry.upload(make_card(rmse=12.0), make_onnx(weights=(1.0, 1.0)))
    response = await registry.upload(make_card(rmse=8.0), make_onnx(weights=(2.0, 2.0)))
    assert response.json()["aliases"] == ["champion"]
    promoted = registry.captured.events[-1]
    assert isinstance(promoted, ModelPromoted)
    assert (promoted.version, promoted.previous_version) == (3, 1)
    assert "beats champion" in promoted.reason
    champion = (await registry.client.get("/models/house-prices/aliases/champion")).json()
    assert champion["version"] == 3
    models = (await registry.client.get("/models")).json()
    assert models[0]["aliases"] == {"champion": 3}


async def test_readiness_follows_the_broker(registry: Registry) -> None:
    response = await registry.client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["broker"] is True


async def test_a_corrupted_stored_artifact_is_a_conflict_not_a_server_error(
    registry: Registry,
) -> None:
    artifact = make_onnx()
    stored = ModelVersion.model_validate(
        (await registry.upload(make_card(rmse=10.0), artifact)).json()
    )
    path = registry.settings.artifact_dir / f"{stored.sha256}.onnx"
    path.write_bytes(b"\x00corrupted" + artifact[10:])

    download = await registry.client.get("/models/house-prices/versions/1/artifact")
    assert download.status_code == 409
    assert download.json()["detail"].startswith("artifact_corrupted:")
