import hashlib
import sqlite3
import threading
from functools import partial
from pathlib import Path

import psycopg
import pytest

from contracts import ModelPromoted, ModelRegistered
from services.registry.artifacts import ArtifactCorrupted, ArtifactStore
from services.registry.policy import decide_promotion
from services.registry.sql import open_database
from services.registry.store import RegistryStore
from services.registry.validation import InvalidUpload
from tests.unit.registry.registry_samples import make_card

POLICY = partial(decide_promotion, margin=0.0)


def open_store(data_dir: Path, database_url: str) -> RegistryStore:
    return RegistryStore(open_database(database_url), ArtifactStore(data_dir / "artifacts"))


@pytest.fixture
def store(tmp_path: Path, database_url: str) -> RegistryStore:
    return open_store(tmp_path, database_url)


def test_first_version_is_champion_and_queues_both_events(store: RegistryStore) -> None:
    registration = store.register(make_card(rmse=10.0), b"model-1", POLICY)
    stored = registration.version
    assert (stored.version, stored.aliases) == (1, ("champion",))
    assert stored.sha256 == hashlib.sha256(b"model-1").hexdigest()
    assert stored.size_bytes == len(b"model-1")
    kinds = [type(p.event) for p in store.pending_events()]
    assert kinds == [ModelRegistered, ModelPromoted]
    promoted = store.pending_events()[1].event
    assert isinstance(promoted, ModelPromoted)
    assert (promoted.version, promoted.previous_version) == (1, None)


def test_worse_version_becomes_challenger_without_promotion(store: RegistryStore) -> None:
    store.register(make_card(rmse=10.0), b"model-1", POLICY)
    second = store.register(make_card(rmse=12.0), b"model-2", POLICY)
    assert second.version.aliases == ("challenger",)
    assert [type(e) for e in second.events] == [ModelRegistered]
    champion = store.by_alias("house-prices", "champion")
    assert champion is not None
    assert champion.version == 1


def test_better_version_takes_champion_and_clears_challenger(store: RegistryStore) -> None:
    store.register(make_card(rmse=10.0), b"model-1", POLICY)
    store.register(make_card(rmse=12.0), b"model-2", POLICY)
    third = store.register(make_card(rmse=8.0), b"model-3", POLICY)
    promoted = third.events[-1]
    assert isinstance(promoted, ModelPromoted)
    assert promoted.previous_version == 1
    assert store.by_alias("house-prices", "champion") == third.version
    assert store.by_alias("house-prices", "challenger") is None
    assert [v.aliases for v in store.versions("house-prices")] == [(), (), ("champion",)]


def test_alias_history_records_every_move_in_order(store: RegistryStore) -> None:
    for rmse, data in [(10.0, b"1"), (12.0, b"2"), (8.0, b"3")]:
        store.register(make_card(rmse=rmse), data, POLICY)
    moves = [(m.alias, m.from_version, m.to_version) for m in store.alias_history("house-prices")]
    assert moves == [
        ("champion", None, 1),
        ("challenger", None, 2),
        ("champion", 1, 3),
        ("challenger", 2, None),
    ]
    assert all(m.reason and m.at for m in store.alias_history("house-prices"))


@pytest.mark.parametrize(
    "statement",
    ["UPDATE alias_history SET to_version = 99", "DELETE FROM alias_history"],
)
def test_alias_history_is_append_only(store: RegistryStore, statement: str) -> None:
    store.register(make_card(), b"model", POLICY)
    with (
        pytest.raises((sqlite3.DatabaseError, psycopg.Error), match="append-only"),
        store.database.transaction() as db,
    ):
        db.run(statement)
    assert len(store.alias_history("house-prices")) == 1


def test_path_traversal_name_is_refused_before_anything_is_written(
    store: RegistryStore,
) -> None:
    # model_copy(update=...) skips the card's own validation: the store must refuse by itself
    card = make_card().model_copy(update={"model_name": "../x"})
    with pytest.raises(InvalidUpload, match="invalid model name"):
        store.register(card, b"model", POLICY)
    assert store.list_models() == []
    assert list(_local(store).directory.iterdir()) == []


def test_versions_survive_reopening(tmp_path: Path, database_url: str) -> None:
    open_store(tmp_path, database_url).register(make_card(), b"model", POLICY)
    reopened = open_store(tmp_path, database_url)
    assert [v.version for v in reopened.versions("house-prices")] == [1]
    second = reopened.register(make_card(rmse=1.0), b"model-2", POLICY)
    assert second.version.version == 2
    assert second.previous_champion == 1


def test_versions_are_numbered_per_model(store: RegistryStore) -> None:
    store.register(make_card(name="a"), b"a1", POLICY)
    store.register(make_card(name="a"), b"a2", POLICY)
    b = store.register(make_card(name="b"), b"b1", POLICY)
    assert b.version.version == 1
    summaries = {s.model_name: s for s in store.list_models()}
    assert summaries["a"].latest_version == 2
    assert summaries["a"].aliases == {"champion": 1, "challenger": 2}
    assert summaries["b"].aliases == {"champion": 1}


def test_concurrent_registrations_get_distinct_versions(store: RegistryStore) -> None:
    def upload(i: int) -> None:
        store.register(make_card(rmse=float(10 + i)), f"model-{i}".encode(), POLICY)

    threads = [threading.Thread(target=upload, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [v.version for v in store.versions("house-prices")] == list(range(1, 9))
    assert len({v.sha256 for v in store.versions("house-prices")}) == 8


def test_artifact_read_verifies_the_hash(store: RegistryStore) -> None:
    stored = store.register(make_card(), b"model", POLICY).version
    found = store.artifact("house-prices", 1)
    assert found is not None
    assert found[1] == b"model"
    _local(store).path_of(stored.sha256).write_bytes(b"bit rot")
    with pytest.raises(ArtifactCorrupted):
        store.artifact("house-prices", 1)


def test_missing_versions_and_aliases_are_none(store: RegistryStore) -> None:
    assert store.version("house-prices", 1) is None
    assert store.artifact("house-prices", 1) is None
    assert store.by_alias("house-prices", "champion") is None
    assert store.versions("house-prices") == []


def test_published_events_leave_the_pending_list(store: RegistryStore) -> None:
    store.register(make_card(), b"model", POLICY)
    first, second = store.pending_events()
    store.mark_published(first.seq)
    assert [p.seq for p in store.pending_events()] == [second.seq]


def test_a_phase_one_sqlite_database_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as old:
        old.executescript(
            "CREATE TABLE versions (name TEXT NOT NULL, version INTEGER NOT NULL,"
            " sha256 TEXT NOT NULL, size INTEGER NOT NULL, created_at TEXT NOT NULL,"
            " card TEXT NOT NULL, PRIMARY KEY (name, version));"
            "CREATE TABLE alias_history (id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " name TEXT NOT NULL, alias TEXT NOT NULL, from_version INTEGER,"
            " to_version INTEGER, reason TEXT NOT NULL, at TEXT NOT NULL);"
        )
        old.execute(
            "INSERT INTO versions VALUES ('house-prices', 1, ?, 5, 'then', ?)",
            (hashlib.sha256(b"old").hexdigest(), make_card().model_dump_json()),
        )
    store = open_store(tmp_path, f"sqlite:///{path}")
    details = store.details("house-prices", 1)
    assert details is not None
    assert details.registered_as == "unknown"
    second = store.register(make_card(rmse=1.0), b"new", POLICY)
    assert second.version.version == 2
    assert store.alias_history("house-prices")[-1].actor == "registry"


def _local(store: RegistryStore) -> ArtifactStore:
    """The store's artifacts as the local directory these tests opened it on."""
    assert isinstance(store.artifacts, ArtifactStore)
    return store.artifacts
