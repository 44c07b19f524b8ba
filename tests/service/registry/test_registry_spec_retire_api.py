"""POST /specs/{name}/retire in process: token, 404, idempotent, shown in reads, one event."""

from __future__ import annotations

import pytest
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from contracts import SPEC_EVENT, SpecEvent, SpecRetired
from services.registry.config import Settings
from tests.service.registry.registry_harness import TOKEN, Registry, open_registry
from tests.support.spec_samples import rentals
from tests.unit.registry.registry_samples import make_spec_model

AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def register(registry: Registry) -> None:
    body = rentals().model_dump(mode="json")
    answer = await registry.client.put("/specs/rentals", json=body, headers=AUTH)
    assert answer.status_code in (200, 201), answer.text


async def retire(registry: Registry, name: str = "rentals", **body: str) -> dict[str, object]:
    answer = await registry.client.post(f"/specs/{name}/retire", json=body or None, headers=AUTH)
    return {"status": answer.status_code, **answer.json()}


async def test_retiring_needs_the_token_and_a_known_data_set(registry: Registry) -> None:
    assert (await registry.client.post("/specs/rentals/retire")).status_code == 401
    assert (await retire(registry))["status"] == 404


async def test_a_retirement_is_shown_and_repeating_it_changes_nothing(registry: Registry) -> None:
    await register(registry)
    first = await retire(registry, reason="replaced by flats")
    again = await retire(registry)
    assert (first["status"], first["created"], first["version"]) == (200, True, 1)
    assert (again["status"], again["created"], again["reason"]) == (200, False, "replaced by flats")
    latest = (await registry.client.get("/specs/rentals")).json()
    assert latest["retired"]["reason"] == "replaced by flats"
    assert latest["retired"]["retired_at"] == first["retired_at"]
    [listed] = (await registry.client.get("/specs")).json()
    assert listed["retired"]["version"] == 1


async def test_an_empty_body_gives_the_default_reason(registry: Registry) -> None:
    await register(registry)
    answer = await registry.client.post("/specs/rentals/retire", headers=AUTH)
    assert (answer.status_code, answer.json()["reason"]) == (200, "no reason given")
    bad = await registry.client.post("/specs/rentals/retire", json={"why": "x"}, headers=AUTH)
    assert bad.status_code == 422


async def test_a_model_of_a_retired_data_set_is_refused(settings: Settings) -> None:
    async with open_registry(settings.model_copy(update={"spec_check": True})) as registry:
        await register(registry)
        await retire(registry, reason="paused")
        card, artifact = make_spec_model(rentals())
        card = card.model_copy(update={"dataset": "rentals", "model_name": "rentals"})
        response = await registry.upload(card, artifact)
    assert response.status_code == 422
    assert response.json()["detail"] == "data set 'rentals' is retired: paused"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_retirement_is_published_once_keyed_by_data_set(settings: Settings) -> None:
    published: list[tuple[bytes | None, SpecEvent]] = []
    async with open_registry(settings) as registry:
        broker: KafkaBroker = registry.app.state.broker

        @broker.subscriber(settings.kafka.topics.specs)
        async def on_spec(body: dict[str, object], message: KafkaMessage) -> None:
            record = message.raw_message
            assert not isinstance(record, tuple)
            published.append((record.key, SPEC_EVENT.validate_python(body)))

        await register(registry)
        await retire(registry, reason="gone")
        await retire(registry, reason="gone")
    assert [(key, e.kind) for key, e in published] == [
        (b"rentals", "spec.registered.v1"),
        (b"rentals", "spec.retired.v1"),
    ]
    retired = published[1][1]
    assert isinstance(retired, SpecRetired)
    assert (retired.dataset, retired.version, retired.reason) == ("rentals", 1, "gone")
