"""Retiring a data set in the registry's database (SQLite and PostgreSQL): stored, announced."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts import SpecRetired
from services.registry.artifacts import ArtifactStore
from services.registry.events import OutboxEvent
from services.registry.outbox import Outbox
from services.registry.spec_store import SpecStore
from services.registry.sql import open_database
from services.registry.store import RegistryStore
from tests.support.spec_samples import churn, rentals, with_feature

WIDER = with_feature(rentals(), {"name": "garden", "type": "boolean", "nullable": True})


@pytest.fixture
def stores(tmp_path: Path, database_url: str) -> tuple[SpecStore, RegistryStore]:
    database = open_database(database_url)
    return SpecStore(database), RegistryStore(database, ArtifactStore(tmp_path / "artifacts"))


async def test_a_retirement_is_stored_once_and_announced_once(
    stores: tuple[SpecStore, RegistryStore],
) -> None:
    specs, registry = stores
    specs.register(rentals())
    specs.register(WIDER)
    first = specs.retire("rentals", "replaced by flats")
    again = specs.retire("rentals", "another reason")
    assert first is not None
    assert again is not None
    assert (first.created, again.created) == (True, False)
    assert again.retirement == first.retirement
    assert (first.retirement.version, first.retirement.reason) == (2, "replaced by flats")
    sent: list[OutboxEvent] = []

    async def send(event: OutboxEvent) -> None:
        sent.append(event)

    assert await Outbox(registry, send).flush() == 3
    retired = sent[-1]
    assert isinstance(retired, SpecRetired)
    assert (retired.dataset, retired.version, retired.reason) == ("rentals", 2, "replaced by flats")


def test_a_retired_data_set_shows_it_in_reads(stores: tuple[SpecStore, RegistryStore]) -> None:
    specs, _ = stores
    specs.register(rentals())
    specs.register(churn())
    written = specs.retire("rentals", "gone")
    assert written is not None
    latest = specs.latest("rentals")
    assert latest is not None
    assert latest.retired == written.retirement
    assert specs.retirement("rentals") == written.retirement
    assert specs.retirement("churn") is None
    listed = {summary.dataset: summary.retired for summary in specs.list_specs()}
    assert listed == {"churn": None, "rentals": written.retirement}
    assert specs.version("rentals", 1).retired is None  # type: ignore[union-attr]


def test_an_unknown_data_set_cannot_be_retired(stores: tuple[SpecStore, RegistryStore]) -> None:
    specs, registry = stores
    assert specs.retire("nothing", "why") is None
    assert registry.pending_events() == []


def test_a_new_version_brings_a_retired_data_set_back(
    stores: tuple[SpecStore, RegistryStore],
) -> None:
    specs, _ = stores
    specs.register(rentals())
    specs.retire("rentals", "paused")
    same = specs.register(rentals())
    assert not same.created
    assert specs.retirement("rentals") is not None  # the same spec again: still retired
    specs.register(WIDER)
    assert specs.retirement("rentals") is None
    latest = specs.latest("rentals")
    assert latest is not None
    assert (latest.version, latest.retired) == (2, None)
    again = specs.retire("rentals", "paused again")
    assert again is not None
    assert (again.created, again.retirement.version) == (True, 2)
