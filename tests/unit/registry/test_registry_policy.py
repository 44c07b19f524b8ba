import pytest

from contracts import ChampionComparison, HoldoutRows, ModelMetrics
from services.registry.policy import Champion, decide_promotion


def metrics(
    rmse: float, champion_version: int | None = None, champion_rmse: float | None = None
) -> ModelMetrics:
    return ModelMetrics(
        rmse=rmse,
        mae=rmse / 2,
        r2=0.5,
        holdout_size=100,
        parity_max_abs_error=1e-6,
        champion_version=champion_version,
        champion_rmse=champion_rmse,
    )


def test_first_version_becomes_champion() -> None:
    decision = decide_promotion(metrics(50.0), None, margin=0.0)
    assert decision.alias == "champion"
    assert decision.promoted
    assert "first version" in decision.reason


def test_lower_rmse_takes_champion() -> None:
    decision = decide_promotion(
        metrics(9.0), Champion(version=3, metrics=metrics(10.0)), margin=0.0
    )
    assert decision.promoted
    assert "v3" in decision.reason


def test_equal_rmse_stays_challenger() -> None:
    decision = decide_promotion(
        metrics(10.0), Champion(version=1, metrics=metrics(10.0)), margin=0.0
    )
    assert decision.alias == "challenger"
    assert not decision.promoted
    assert "does not beat champion" in decision.reason


def test_worse_rmse_stays_challenger() -> None:
    assert not decide_promotion(metrics(12.0), Champion(1, metrics(10.0)), margin=0.0).promoted


@pytest.mark.parametrize(
    ("candidate", "promoted"), [(8.99, True), (9.0, False), (9.5, False), (1.0, True)]
)
def test_margin_is_relative_to_champion_rmse(candidate: float, promoted: bool) -> None:
    decision = decide_promotion(
        metrics(candidate), Champion(version=2, metrics=metrics(10.0)), margin=0.1
    )
    assert decision.promoted is promoted
    assert "margin 0.1" in decision.reason


def test_same_holdout_score_of_the_champion_wins_over_its_recorded_rmse() -> None:
    # Recorded at its own training the champion looked better (8.0), but on today's holdout
    # it scores 12.0: the candidate's 10.0 beats it there.
    candidate = metrics(10.0, champion_version=4, champion_rmse=12.0)
    decision = decide_promotion(candidate, Champion(version=4, metrics=metrics(8.0)), margin=0.0)
    assert decision.promoted
    assert "champion v4 rmse 12 on the same holdout" in decision.reason


def test_same_holdout_score_can_keep_the_candidate_challenger() -> None:
    candidate = metrics(10.0, champion_version=4, champion_rmse=9.0)
    decision = decide_promotion(candidate, Champion(version=4, metrics=metrics(20.0)), margin=0.0)
    assert not decision.promoted
    assert "on the same holdout" in decision.reason


def test_without_a_same_holdout_score_the_reason_says_so() -> None:
    decision = decide_promotion(
        metrics(9.0), Champion(version=2, metrics=metrics(10.0)), margin=0.0
    )
    assert decision.promoted
    assert "different holdout" in decision.reason
    assert "did not score the champion" in decision.reason


def test_a_score_of_another_version_is_not_used() -> None:
    # The trainer scored v2, but v3 became champion meanwhile: compare with v3's own rmse.
    candidate = metrics(9.0, champion_version=2, champion_rmse=100.0)
    decision = decide_promotion(candidate, Champion(version=3, metrics=metrics(5.0)), margin=0.0)
    assert not decision.promoted
    assert "champion v3 rmse 5" in decision.reason
    assert "scored v2, not the current champion" in decision.reason


def compared(
    rmse: float, champion_version: int, champion_rmse: float, on_rows: float
) -> ModelMetrics:
    """A candidate whose own holdout rmse is `rmse` and which scored `on_rows` on the rows it
    shares with the champion's holdout, where the champion scored `champion_rmse`."""
    rows = HoldoutRows(count=40, fingerprint="ab" * 32)
    comparison = ChampionComparison(
        champion_version=champion_version, champion_rmse=champion_rmse, rmse=on_rows, rows=rows
    )
    return metrics(rmse).model_copy(update={"comparison": comparison})


def test_both_models_are_judged_on_the_rows_neither_trained_on() -> None:
    # On its whole holdout the candidate scores 9 (better than the champion's recorded 10),
    # but on the rows neither trained on it scores 11 against the champion's 10.5.
    decision = decide_promotion(
        compared(9.0, 4, 10.5, 11.0), Champion(4, metrics(10.0)), margin=0.0
    )
    assert not decision.promoted
    assert "rmse 11 vs champion v4 rmse 10.5" in decision.reason
    assert "on the same 40 holdout records abababababab, unseen by both" in decision.reason
    better = decide_promotion(compared(12.0, 4, 10.5, 10.0), Champion(4, metrics(10.0)), margin=0.0)
    assert better.promoted


def test_a_comparison_with_another_version_is_not_used() -> None:
    decision = decide_promotion(
        compared(9.0, 3, 100.0, 1.0), Champion(4, metrics(10.0)), margin=0.0
    )
    assert decision.promoted
    assert "as recorded at its own training" in decision.reason
