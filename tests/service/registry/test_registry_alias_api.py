import pytest

from contracts import ModelPromoted, ModelRolledBack
from tests.service.registry.registry_harness import TOKEN, Registry
from tests.unit.registry.registry_samples import make_card, make_onnx

AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def two_versions(registry: Registry) -> None:
    await registry.upload(make_card(rmse=10.0), make_onnx())
    await registry.upload(make_card(rmse=12.0), make_onnx((1.0, 1.0)))


async def test_manual_promotion_and_rollback_are_announced(registry: Registry) -> None:
    await two_versions(registry)
    promoted = await registry.client.post(
        "/models/house-prices/versions/2/promote",
        json={"reason": "wins the A/B test", "actor": "alice"},
        headers=AUTH,
    )
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["champion"] == 2
    assert promoted.json()["moves"][0]["actor"] == "alice"
    rolled = await registry.client.post(
        "/models/house-prices/rollback", json={"reason": "latency regression"}, headers=AUTH
    )
    assert rolled.status_code == 200, rolled.text
    assert rolled.json()["champion"] == 1
    events = registry.captured.events[-2:]
    assert isinstance(events[0], ModelPromoted)
    assert events[0].version == 2
    assert isinstance(events[1], ModelRolledBack)
    assert (events[1].version, events[1].previous_version) == (1, 2)
    assert "latency regression" in events[1].reason
    champion = await registry.client.get("/models/house-prices/aliases/champion")
    assert champion.json()["version"] == 1
    assert await registry.metric("mlbus_registry_promotions_total") == 2.0


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/models/house-prices/versions/2/promote", {"reason": "x"}),
        ("/models/house-prices/rollback", {"reason": "x"}),
    ],
)
async def test_alias_writes_need_the_token(
    registry: Registry, path: str, body: dict[str, str]
) -> None:
    await two_versions(registry)
    before = len(registry.captured.events)
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        response = await registry.client.post(path, json=body, headers=headers)
        assert response.status_code == 401
    assert len(registry.captured.events) == before
    assert len(registry.app.state.store.alias_history("house-prices")) == 2


async def test_bad_alias_writes_are_refused_without_change(registry: Registry) -> None:
    await two_versions(registry)
    client, before = registry.client, len(registry.captured.events)
    cases = [
        ("/models/house-prices/versions/9/promote", {"reason": "x"}, {404}),
        ("/models/house-prices/versions/1/promote", {"reason": "x"}, {409}),
        ("/models/house-prices/rollback", {"reason": "x"}, {409}),
        ("/models/nothing-here/rollback", {"reason": "x"}, {404}),
        ("/models/house-prices/versions/2/promote", {"reason": ""}, {422}),
        ("/models/house-prices/versions/2/promote", {}, {422}),
        ("/models/..%2Fx/rollback", {"reason": "x"}, {404, 422}),  # routing or name check
    ]
    for path, body, statuses in cases:
        response = await client.post(path, json=body, headers=AUTH)
        assert response.status_code in statuses, path
        assert response.json()["detail"]
    assert len(registry.captured.events) == before
    assert len(registry.app.state.store.alias_history("house-prices")) == 2


async def test_alias_history_endpoint(registry: Registry) -> None:
    await two_versions(registry)
    await registry.upload(make_card(rmse=5.0), make_onnx((3.0, 1.0)))
    history = (await registry.client.get("/models/house-prices/alias-history")).json()
    assert [(h["alias"], h["from_version"], h["to_version"]) for h in history] == [
        ("champion", None, 1),
        ("challenger", None, 2),
        ("champion", 1, 3),
        ("challenger", 2, None),
    ]
    assert {"actor", "at", "reason", "kind"} <= set(history[0])
    only = await registry.client.get("/models/house-prices/alias-history?alias=challenger")
    assert [h["to_version"] for h in only.json()] == [2, None]


async def test_same_holdout_comparison_decides_and_is_explained(registry: Registry) -> None:
    await registry.upload(make_card(rmse=10.0), make_onnx())
    # Worse than the champion's recorded 10.0, yet better than its 13.0 on this holdout.
    card = make_card(rmse=11.0, champion=(1, 13.0))
    response = await registry.upload(card, make_onnx((1.0, 1.0)))
    assert response.json()["aliases"] == ["champion"]
    details = (await registry.client.get("/models/house-prices/versions/2/details")).json()
    assert details["parent_champion"] == 1
    assert details["registered_as"] == "champion"
    assert "on the same holdout" in details["decision_reason"]
    assert [i["name"] for i in details["signature"]["inputs"]] == ["area", "bedrooms"]
    assert details["signature"]["outputs"][0]["name"] == "prediction"


async def test_openapi_documents_every_endpoint_with_its_response(registry: Registry) -> None:
    spec = (await registry.client.get("/openapi.json")).json()
    paths = spec["paths"]
    expected = {
        ("get", "/models"): "array",
        ("get", "/models/{name}/versions"): "array",
        ("get", "/models/{name}/versions/{version}"): "ModelVersion",
        ("get", "/models/{name}/versions/{version}/details"): "VersionDetails",
        ("get", "/models/{name}/aliases/{alias}"): "ModelVersion",
        ("get", "/models/{name}/alias-history"): "array",
        ("post", "/models/{name}/versions"): "ModelVersion",
        ("post", "/models/{name}/versions/{version}/promote"): "AliasChangeResult",
        ("post", "/models/{name}/rollback"): "AliasChangeResult",
    }
    for (method, path), schema in expected.items():
        operation = paths[path][method]
        ok = operation["responses"].get("200") or operation["responses"]["201"]
        described = str(ok["content"]["application/json"]["schema"])
        assert schema in described, (method, path)
        if method == "post":
            assert "401" in operation["responses"], path
    assert "application/octet-stream" in str(
        paths["/models/{name}/versions/{version}/artifact"]["get"]["responses"]["200"]
    )
