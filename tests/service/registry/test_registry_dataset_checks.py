"""With spec checks on, a model must fit its own data set's spec, as the registry stores it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from contracts import DatasetSpec, ModelCard
from services.registry.config import Settings
from tests.service.registry.registry_harness import TOKEN, Registry, open_registry
from tests.support.spec_samples import rentals, with_feature
from tests.unit.registry.registry_samples import make_spec_model

AUTH = {"Authorization": f"Bearer {TOKEN}"}
WIDER = with_feature(rentals(), {"name": "garden", "type": "boolean", "nullable": True})


@pytest.fixture
async def checked(settings: Settings) -> AsyncIterator[Registry]:
    async with open_registry(settings.model_copy(update={"spec_check": True})) as registry:
        yield registry


def model_for(spec: DatasetSpec) -> tuple[ModelCard, bytes]:
    card, artifact = make_spec_model(spec)
    return card.model_copy(update={"dataset": spec.name, "model_name": spec.name}), artifact


async def register(registry: Registry, spec: DatasetSpec) -> None:
    body = spec.model_dump(mode="json")
    response = await registry.client.put(f"/specs/{spec.name}", json=body, headers=AUTH)
    assert response.status_code in (200, 201), response.text


async def test_a_model_of_a_registered_data_set_is_checked_against_its_spec(
    checked: Registry,
) -> None:
    await register(checked, rentals())
    assert (await checked.upload(*model_for(rentals()))).status_code == 201
    card, artifact = model_for(rentals())
    wrong = card.model_copy(update={"inputs": card.inputs[:-1]})
    response = await checked.upload(wrong, artifact)
    assert response.status_code == 422
    assert "do not match spec 'rentals'" in response.json()["detail"]


async def test_a_model_of_a_data_set_without_a_spec_is_refused(checked: Registry) -> None:
    response = await checked.upload(*model_for(rentals()))
    assert response.status_code == 422
    assert "'rentals' has no spec in the registry" in response.json()["detail"]
    assert checked.nothing_written()


async def test_a_model_of_an_earlier_compatible_version_is_still_accepted(
    checked: Registry,
) -> None:
    """A run that began before a nullable feature was added uploads a model without it."""
    await register(checked, rentals())
    await register(checked, WIDER)
    assert (await checked.upload(*model_for(rentals()))).status_code == 201
    assert (await checked.upload(*model_for(WIDER))).status_code == 201
