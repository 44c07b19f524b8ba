"""The registry's /specs API in process: token, idempotent PUT, 409 reasons, reads, events."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from contracts import SpecRegistered
from services.registry.config import Settings
from tests.service.registry.registry_harness import TOKEN, Registry, open_registry
from tests.support.spec_samples import churn, rentals, with_feature

AUTH = {"Authorization": f"Bearer {TOKEN}"}
WIDER = with_feature(rentals(), {"name": "garden", "type": "boolean", "nullable": True})


def capture_specs_topic(
    app: FastAPI, settings: Settings
) -> list[tuple[bytes | None, SpecRegistered]]:
    """(key, event) of everything the registry publishes on the specs topic."""
    seen: list[tuple[bytes | None, SpecRegistered]] = []
    broker: KafkaBroker = app.state.broker

    @broker.subscriber(settings.kafka.topics.specs)
    async def on_spec(body: dict[str, object], message: KafkaMessage) -> None:
        record = message.raw_message
        assert not isinstance(record, tuple)
        seen.append((record.key, SpecRegistered.model_validate(body)))

    return seen


async def put(
    registry: Registry, body: object, *, name: str = "rentals", **params: str
) -> httpx.Response:
    return await registry.client.put(f"/specs/{name}", json=body, headers=AUTH, params=params)


async def test_a_put_without_the_token_is_refused(registry: Registry) -> None:
    body = rentals().model_dump(mode="json")
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        answer = await registry.client.put("/specs/rentals", json=body, headers=headers)
        assert answer.status_code == 401
    # The token is checked before the body is read: a body that is not JSON gets 401 too.
    junk = await registry.client.put("/specs/rentals", content=b"{not json")
    assert junk.status_code == 401
    assert (await registry.client.get("/specs")).json() == []


async def test_the_put_declares_its_token_and_its_body(registry: Registry) -> None:
    document = (await registry.client.get("/openapi.json")).json()
    operation = document["paths"]["/specs/{name}"]["put"]
    assert operation["security"] == [{"registry token": []}]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/DatasetSpec"}
    assert "DatasetSpec" in document["components"]["schemas"]
    assert {"200", "201", "401", "409", "413", "422"} <= set(operation["responses"])


async def test_put_stores_versions_once_and_reads_them_back(registry: Registry) -> None:
    first = await put(registry, rentals().model_dump(mode="json"))
    again = await put(registry, rentals().model_dump(mode="json"))
    second = await put(registry, WIDER.model_dump(mode="json"))
    assert (first.status_code, first.json()["version"], first.json()["created"]) == (201, 1, True)
    assert (again.status_code, again.json()["version"], again.json()["created"]) == (200, 1, False)
    assert (second.status_code, second.json()["version"]) == (201, 2)
    latest = (await registry.client.get("/specs/rentals")).json()
    assert latest["version"] == 2
    assert latest["spec"]["features"][-1]["name"] == "garden"
    v1 = (await registry.client.get("/specs/rentals/versions/1")).json()
    assert len(v1["spec"]["features"]) == 3
    assert (await registry.client.get("/specs/rentals/versions/3")).status_code == 404
    assert (await registry.client.get("/specs/nothing")).status_code == 404


async def test_an_incompatible_spec_gets_409_with_every_reason_unless_major(
    registry: Registry,
) -> None:
    await put(registry, rentals().model_dump(mode="json"))
    broken = rentals(features=[{"name": "area", "type": "integer"}]).model_dump(mode="json")
    refused = await put(registry, broken)
    assert refused.status_code == 409
    detail = refused.json()["detail"]
    assert "retyped from numeric to integer" in detail
    assert "'rooms' removed" in detail
    assert "'district' removed" in detail
    major = await put(registry, broken, major="true")
    assert (major.status_code, major.json()["version"], major.json()["major"]) == (201, 2, 2)


async def test_a_spec_must_name_the_data_set_of_its_path(registry: Registry) -> None:
    answer = await put(registry, rentals().model_dump(mode="json"), name="other")
    assert answer.status_code == 422
    assert (await put(registry, {"name": "rentals"})).status_code == 422


async def test_list_gives_each_data_set_its_latest_version_task_and_features(
    registry: Registry,
) -> None:
    await put(registry, rentals().model_dump(mode="json"))
    await put(registry, WIDER.model_dump(mode="json"))
    await put(registry, churn().model_dump(mode="json"), name="churn")
    listed = (await registry.client.get("/specs")).json()
    assert [(s["dataset"], s["latest_version"], s["task"], s["features"]) for s in listed] == [
        ("churn", 1, "classification", 1),
        ("rentals", 2, "regression", 4),
    ]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_each_new_version_is_published_once_keyed_by_data_set(settings: Settings) -> None:
    async with open_registry(settings) as registry:
        published = capture_specs_topic(registry.app, settings)
        await put(registry, rentals().model_dump(mode="json"))
        await put(registry, rentals().model_dump(mode="json"))
        await put(registry, WIDER.model_dump(mode="json"))
    assert [(key, e.version, e.dataset) for key, e in published] == [
        (b"rentals", 1, "rentals"),
        (b"rentals", 2, "rentals"),
    ]
    assert published[1][1].spec == WIDER
    assert registry.captured.events == []  # nothing on the models topic
