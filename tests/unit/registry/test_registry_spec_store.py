"""Versioned specs in the registry's database (SQLite and PostgreSQL) and their outbox events."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest

from contracts import SpecRegistered, spec_sha256
from services.registry.artifacts import ArtifactStore
from services.registry.events import OutboxEvent
from services.registry.outbox import Outbox
from services.registry.policy import decide_promotion
from services.registry.spec_store import Incompatible, SpecStore
from services.registry.sql import open_database
from services.registry.store import RegistryStore
from tests.support.spec_samples import churn, rentals, with_feature
from tests.unit.registry.registry_samples import make_card

WIDER = with_feature(rentals(), {"name": "garden", "type": "boolean", "nullable": True})
BROKEN = rentals(features=[{"name": "area", "type": "integer"}])


@pytest.fixture
def stores(tmp_path: Path, database_url: str) -> tuple[SpecStore, RegistryStore]:
    database = open_database(database_url)
    return SpecStore(database), RegistryStore(database, ArtifactStore(tmp_path / "artifacts"))


def test_versions_count_up_and_each_is_kept(stores: tuple[SpecStore, RegistryStore]) -> None:
    specs, _ = stores
    first = specs.register(rentals())
    second = specs.register(WIDER)
    assert (first.created, first.stored.version, first.stored.major) == (True, 1, 1)
    assert (second.created, second.stored.version, second.stored.major) == (True, 2, 1)
    assert specs.latest("rentals") == second.stored
    assert specs.version("rentals", 1) == first.stored
    assert specs.version("rentals", 1).spec == rentals()  # type: ignore[union-attr]
    assert second.stored.sha256 == spec_sha256(WIDER)
    assert specs.version("rentals", 3) is None
    assert specs.latest("nothing") is None


def test_the_same_spec_again_stores_nothing(stores: tuple[SpecStore, RegistryStore]) -> None:
    specs, registry = stores
    first = specs.register(rentals())
    again = specs.register(rentals(), major=True)
    assert again.created is False
    assert again.stored == first.stored
    assert len(registry.pending_events()) == 1


def test_an_incompatible_spec_is_refused_unless_declared_major(
    stores: tuple[SpecStore, RegistryStore],
) -> None:
    specs, registry = stores
    specs.register(rentals())
    with pytest.raises(Incompatible) as refused:
        specs.register(BROKEN)
    assert refused.value.latest == 1
    assert "feature 'rooms' removed" in refused.value.reasons
    assert "feature 'area' retyped from numeric to integer" in str(refused.value)
    assert specs.latest("rentals").version == 1  # type: ignore[union-attr]
    assert len(registry.pending_events()) == 1  # nothing queued for the refusal
    major = specs.register(BROKEN, major=True)
    assert (major.stored.version, major.stored.major) == (2, 2)
    # The next version is checked against the new major, not the old one.
    nullable_x = with_feature(BROKEN, {"name": "x", "type": "boolean", "nullable": True})
    assert specs.register(nullable_x).stored.major == 2


def test_list_names_each_data_set_with_its_latest_version(
    stores: tuple[SpecStore, RegistryStore],
) -> None:
    specs, _ = stores
    specs.register(rentals())
    specs.register(WIDER)
    specs.register(churn())
    listed = [
        (s.dataset, s.latest_version, s.major, s.task, s.features) for s in specs.list_specs()
    ]
    assert listed == [("churn", 1, 1, "classification", 1), ("rentals", 2, 1, "regression", 4)]


async def test_each_new_version_is_announced_once_through_the_outbox(
    stores: tuple[SpecStore, RegistryStore],
) -> None:
    specs, registry = stores
    specs.register(rentals())
    specs.register(rentals())
    specs.register(WIDER)
    sent: list[OutboxEvent] = []

    async def send(event: OutboxEvent) -> None:
        sent.append(event)

    assert await Outbox(registry, send).flush() == 2
    assert all(isinstance(e, SpecRegistered) for e in sent)
    announced = [e for e in sent if isinstance(e, SpecRegistered)]
    assert [(e.dataset, e.version, e.major) for e in announced] == [
        ("rentals", 1, 1),
        ("rentals", 2, 1),
    ]
    assert announced[1].spec == WIDER
    assert announced[1].sha256 == spec_sha256(WIDER)
    assert await Outbox(registry, send).flush() == 0


def test_model_events_still_parse_from_the_shared_outbox(
    stores: tuple[SpecStore, RegistryStore],
) -> None:
    specs, registry = stores
    specs.register(rentals())
    registry.register(make_card(rmse=10.0), b"model-1", partial(decide_promotion, margin=0.0))
    kinds = [p.event.kind for p in registry.pending_events()]
    assert kinds == ["spec.registered.v1", "model.registered.v1", "model.promoted.v1"]


def test_the_current_major_holds_its_versions_newest_first(
    stores: tuple[SpecStore, RegistryStore],
) -> None:
    specs, _ = stores
    assert specs.current_major("rentals") == []
    specs.register(rentals())
    specs.register(WIDER)
    assert [v.version for v in specs.current_major("rentals")] == [2, 1]
    specs.register(BROKEN, major=True)  # a new major: earlier versions no longer count
    assert [(v.version, v.major) for v in specs.current_major("rentals")] == [(3, 2)]
