"""Concurrent alias moves are refused by the database itself, not only by the write lock.

Two raw transactions on PostgreSQL, without the registry's advisory lock (as a replica that
skipped it would write), move `champion` from the same state: the second must fail and leave
neither a second champion nor a history that skips a move. And only one process at a time
holds the outbox lease.
"""

from __future__ import annotations

import threading
from functools import partial
from pathlib import Path

import psycopg
import pytest

from services.registry import aliases
from services.registry.artifacts import ArtifactStore
from services.registry.policy import CHAMPION, decide_promotion
from services.registry.sql import _PostgresConnection, open_database
from services.registry.store import RegistryStore
from tests.unit.registry.registry_postgres import fresh_database
from tests.unit.registry.registry_samples import make_card

POLICY = partial(decide_promotion, margin=0.0)
NAME = "house-prices"


def three_versions(url: str, tmp_path: Path) -> RegistryStore:
    store = RegistryStore(open_database(url), ArtifactStore(tmp_path / "artifacts"))
    for rmse, artifact in ((10.0, b"v1"), (12.0, b"v2"), (13.0, b"v3")):
        store.register(make_card(rmse=rmse), artifact, POLICY)  # v1 champion, v2/v3 not
    return store


def move_champion(db: psycopg.Connection[tuple[object, ...]], version: int) -> None:
    aliases.move(
        _PostgresConnection(db), NAME, CHAMPION, version, kind="promote", actor="t", reason="r"
    )


def test_two_moves_from_the_same_state_cannot_both_commit(tmp_path: Path) -> None:
    url = fresh_database()
    store = three_versions(url, tmp_path)
    before = len(store.alias_history(NAME, CHAMPION))
    first = psycopg.connect(url)  # not autocommit: each holds its transaction open
    second = psycopg.connect(url)
    outcome: list[BaseException | None] = []

    def second_move() -> None:
        try:
            move_champion(second, 3)  # waits on the first's row lock, then hits the index
            second.commit()
            outcome.append(None)
        except psycopg.Error as exc:
            second.rollback()
            outcome.append(exc)

    try:
        move_champion(first, 2)
        racer = threading.Thread(target=second_move)
        racer.start()
        racer.join(timeout=1.0)
        assert racer.is_alive(), "the second move must wait for the first transaction"
        first.commit()
        racer.join(timeout=10.0)
    finally:
        first.close()
        second.close()

    assert len(outcome) == 1
    assert isinstance(outcome[0], psycopg.errors.UniqueViolation)
    history = store.alias_history(NAME, CHAMPION)
    assert len(history) == before + 1
    assert (history[-1].from_version, history[-1].to_version) == (1, 2)
    assert store.by_alias(NAME, CHAMPION) is not None
    assert store.by_alias(NAME, CHAMPION).version == 2  # type: ignore[union-attr]


def test_moves_chain_with_no_gap_on_either_backend(tmp_path: Path, database_url: str) -> None:
    store = three_versions(database_url, tmp_path)
    store.promote(NAME, 2, "t", "r")
    store.promote(NAME, 3, "t", "r")
    store.rollback(NAME, "t", "r")
    moves = store.alias_history(NAME, CHAMPION)
    assert [(m.from_version, m.to_version) for m in moves] == [(None, 1), (1, 2), (2, 3), (3, 2)]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_one_outbox_lease_at_a_time(tmp_path: Path, backend: str) -> None:
    url = f"sqlite:///{tmp_path / 'r.sqlite3'}" if backend == "sqlite" else fresh_database()
    one, other = open_database(url), open_database(url)
    held = one.try_outbox_lease()
    assert held is not None
    assert other.try_outbox_lease() is None  # as a second replica would find it
    held.release()
    again = other.try_outbox_lease()
    assert again is not None
    again.release()
