"""The holdout by record id: the same records held out in every run, and the champion and the
challenger compared on holdout records neither of them trained on."""

from __future__ import annotations

import pytest

from contracts import HOUSE_PRICES
from services.trainer.holdout import holdout_rows, holdout_share, is_held_out
from services.trainer.snapshot import take_snapshot
from services.trainer.training import (
    Champion,
    TrainedModel,
    TrainingError,
    TrainingOptions,
    split_holdout,
    train_model,
)
from tests.unit.trainer.trainer_samples import labelled_records

LINEAR = TrainingOptions(estimator="linear")


def test_a_records_share_depends_on_its_id_alone() -> None:
    shares = [holdout_share(f"id-{i}") for i in range(10_000)]
    assert shares == [holdout_share(f"id-{i}") for i in range(10_000)]
    assert all(0.0 <= share < 1.0 for share in shares)
    held = sum(share < 0.2 for share in shares)
    assert 1_900 <= held <= 2_100  # binomial(10k, 0.2): sd 40
    # A larger fraction holds out the same records and more: never one it trained on.
    assert all(is_held_out(f"id-{i}", 0.3) for i in range(1000) if is_held_out(f"id-{i}", 0.2))


def test_holdout_rows_are_named_by_count_and_a_fingerprint_of_their_ids() -> None:
    rows = holdout_rows(["b", "a", "c"])
    assert rows == holdout_rows(["c", "b", "a"])
    assert rows.count == 3
    assert rows.fingerprint != holdout_rows(["a", "b"]).fingerprint


@pytest.fixture(scope="module")
def champion() -> TrainedModel:
    """Trained on the first 400 of 1,000 records."""
    return train_model(
        take_snapshot(labelled_records(400, seed=2), HOUSE_PRICES), HOUSE_PRICES, "h", LINEAR
    )


def test_the_card_names_the_holdout_and_no_holdout_record_is_trained_on(
    champion: TrainedModel,
) -> None:
    snapshot = take_snapshot(labelled_records(400, seed=2), HOUSE_PRICES)
    held = [r for r in snapshot.record_ids if is_held_out(r, 0.2)]
    metrics = champion.card.metrics
    assert metrics.holdout_rows == holdout_rows(held)
    assert (metrics.holdout_size, metrics.train_size) == (len(held), 400 - len(held))
    assert metrics.holdout_fraction == 0.2


def test_the_challenger_on_more_data_is_compared_on_rows_neither_trained_on(
    champion: TrainedModel,
) -> None:
    records = labelled_records(1000, seed=2)  # the champion's 400 and 600 more
    snapshot = take_snapshot(records, HOUSE_PRICES)
    model = train_model(
        snapshot, HOUSE_PRICES, "h", LINEAR, Champion(7, champion.onnx, holdout_fraction=0.2)
    )
    comparison = model.card.metrics.comparison
    assert comparison is not None
    assert comparison.champion_version == 7
    held = [r for r in snapshot.record_ids if is_held_out(r, 0.2)]
    assert comparison.rows == holdout_rows(held) == model.card.metrics.holdout_rows
    # The challenger's ONNX scores on those rows are its own holdout scores (float32 aside).
    assert comparison.rmse == pytest.approx(model.card.metrics.rmse, rel=1e-4)
    assert model.card.metrics.champion_rmse == comparison.champion_rmse


def test_a_champion_that_held_out_less_is_compared_on_its_own_holdout_only(
    champion: TrainedModel,
) -> None:
    snapshot = take_snapshot(labelled_records(1000, seed=2), HOUSE_PRICES)
    model = train_model(
        snapshot, HOUSE_PRICES, "h", LINEAR, Champion(7, champion.onnx, holdout_fraction=0.1)
    )
    comparison = model.card.metrics.comparison
    assert comparison is not None
    unseen = [r for r in snapshot.record_ids if is_held_out(r, 0.1)]
    assert comparison.rows == holdout_rows(unseen)
    assert comparison.rows.count < model.card.metrics.holdout_size


def test_a_split_without_enough_rows_on_both_sides_is_a_training_error() -> None:
    snapshot = take_snapshot(labelled_records(12), HOUSE_PRICES)
    with pytest.raises(TrainingError, match="held out"):
        train_model(snapshot, HOUSE_PRICES, "h", TrainingOptions("linear", holdout_fraction=0.01))
    assert len(split_holdout(snapshot.frame, snapshot.record_ids, 0.01).holdout) < 2
