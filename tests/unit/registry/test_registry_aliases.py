from functools import partial
from pathlib import Path

import pytest

from contracts import ModelPromoted, ModelRolledBack
from services.registry.aliases import AliasMove, rollback_target
from services.registry.artifacts import ArtifactStore
from services.registry.policy import decide_promotion
from services.registry.signature import OnnxSignature, TensorInfo
from services.registry.sql import open_database
from services.registry.store import Conflict, NotFound, RegistryStore
from tests.unit.registry.registry_samples import make_card

POLICY = partial(decide_promotion, margin=0.0)
NAME = "house-prices"


@pytest.fixture
def store(tmp_path: Path, database_url: str) -> RegistryStore:
    return RegistryStore(open_database(database_url), ArtifactStore(tmp_path / "artifacts"))


def champion_of(store: RegistryStore) -> int | None:
    found = store.by_alias(NAME, "champion")
    return found.version if found else None


def test_manual_promotion_moves_champion_and_queues_model_promoted(store: RegistryStore) -> None:
    store.register(make_card(rmse=10.0), b"1", POLICY)
    store.register(make_card(rmse=12.0), b"2", POLICY)  # challenger
    change = store.promote(NAME, 2, actor="alice", reason="better on the new segment")
    assert champion_of(store) == 2
    assert store.by_alias(NAME, "challenger") is None  # it was the challenger: no longer
    [event] = change.events
    assert isinstance(event, ModelPromoted)
    assert (event.version, event.previous_version) == (2, 1)
    assert "alice" in event.reason
    assert "better on the new segment" in event.reason
    assert store.pending_events()[-1].event == event  # queued in the same transaction
    last = store.alias_history(NAME, "champion")[-1]
    assert (last.from_version, last.to_version, last.kind, last.actor) == (1, 2, "promote", "alice")


def test_promoting_the_champion_or_an_unknown_version_is_refused(store: RegistryStore) -> None:
    store.register(make_card(), b"1", POLICY)
    before = store.pending_events()
    with pytest.raises(Conflict, match="already the champion"):
        store.promote(NAME, 1, actor="bob", reason="again")
    with pytest.raises(NotFound):
        store.promote(NAME, 7, actor="bob", reason="typo")
    assert store.pending_events() == before
    assert len(store.alias_history(NAME)) == 1


def test_rollback_returns_to_the_previous_champion(store: RegistryStore) -> None:
    store.register(make_card(rmse=10.0), b"1", POLICY)
    store.register(make_card(rmse=8.0), b"2", POLICY)
    store.register(make_card(rmse=6.0), b"3", POLICY)
    change = store.rollback(NAME, actor="carol", reason="v3 misbehaves in production")
    assert champion_of(store) == 2
    [event] = change.events
    assert isinstance(event, ModelRolledBack)
    assert (event.version, event.previous_version) == (2, 3)
    assert event.sha256 == store.version(NAME, 2).sha256  # type: ignore[union-attr]
    store.rollback(NAME, actor="carol", reason="v2 too")  # rollbacks unwind, not toggle
    assert champion_of(store) == 1
    with pytest.raises(Conflict, match="no earlier champion"):
        store.rollback(NAME, actor="carol", reason="nothing left")
    assert champion_of(store) == 1


def test_rollback_of_a_model_without_champion_is_not_found(store: RegistryStore) -> None:
    with pytest.raises(NotFound):
        store.rollback(NAME, actor="dave", reason="?")


def test_history_says_who_when_from_to_and_why(store: RegistryStore) -> None:
    store.register(make_card(rmse=10.0), b"1", POLICY)
    store.register(make_card(rmse=12.0), b"2", POLICY)
    store.promote(NAME, 2, actor="alice", reason="manual")
    store.rollback(NAME, actor="bob", reason="oops")
    history = store.alias_history(NAME)
    assert [(m.alias, m.from_version, m.to_version, m.kind, m.actor) for m in history] == [
        ("champion", None, 1, "policy", "registry"),
        ("challenger", None, 2, "policy", "registry"),
        ("champion", 1, 2, "promote", "alice"),
        ("challenger", 2, None, "promote", "alice"),
        ("champion", 2, 1, "rollback", "bob"),
    ]
    assert "does not beat champion" in history[1].reason
    assert all(m.at.endswith("+00:00") for m in history)
    assert [m.alias for m in store.alias_history(NAME, "champion")] == ["champion"] * 3


def test_details_record_parent_champion_decision_and_signature(store: RegistryStore) -> None:
    signature = OnnxSignature(
        inputs=(TensorInfo(name="area", type="tensor(float)", shape=(None, 1)),),
        outputs=(TensorInfo(name="prediction", type="tensor(float)", shape=("N", 1)),),
    )
    store.register(make_card(rmse=10.0), b"1", POLICY, signature)
    store.register(make_card(rmse=12.0, champion=(1, 9.0)), b"2", POLICY)
    first, second = store.details(NAME, 1), store.details(NAME, 2)
    assert first is not None
    assert second is not None
    assert (first.parent_champion, first.registered_as, first.signature) == (
        None,
        "champion",
        signature,
    )
    assert (second.parent_champion, second.registered_as) == (1, "challenger")
    assert "on the same holdout" in second.decision_reason
    assert second.version.card.snapshot_fingerprint == "abc123"
    assert store.details(NAME, 3) is None


def move(to: int, kind: str = "policy") -> AliasMove:
    return AliasMove.model_validate(
        {
            "model_name": NAME,
            "alias": "champion",
            "from_version": None,
            "to_version": to,
            "kind": kind,
            "actor": "x",
            "reason": "r",
            "at": "t",
        }
    )


@pytest.mark.parametrize(
    ("moves", "target"),
    [
        ([], None),
        ([move(1)], None),
        ([move(1), move(3)], 1),
        ([move(1), move(3), move(1, "rollback")], None),
        ([move(1), move(3), move(5, "promote"), move(3, "rollback")], 1),
    ],
)
def test_rollback_target_unwinds_promotions(moves: list[AliasMove], target: int | None) -> None:
    assert rollback_target(moves) == target


def test_rollback_leaves_the_challenger_alone(store: RegistryStore) -> None:
    store.register(make_card(rmse=10.0), b"1", POLICY)
    store.register(make_card(rmse=8.0), b"2", POLICY)
    store.register(make_card(rmse=9.0), b"3", POLICY)  # challenger of v2
    change = store.rollback(NAME, actor="erin", reason="v2 drifts")
    assert [(m.alias, m.to_version) for m in change.moves] == [("champion", 1)]
    challenger = store.by_alias(NAME, "challenger")
    assert champion_of(store) == 1
    assert challenger is not None
    assert challenger.version == 3
