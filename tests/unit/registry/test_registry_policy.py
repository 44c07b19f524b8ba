import pytest

from services.registry.policy import Champion, decide_promotion


def test_first_version_becomes_champion() -> None:
    decision = decide_promotion(50.0, None, margin=0.0)
    assert decision.alias == "champion"
    assert decision.promoted
    assert "first version" in decision.reason


def test_lower_rmse_takes_champion() -> None:
    decision = decide_promotion(9.0, Champion(version=3, rmse=10.0), margin=0.0)
    assert decision.promoted
    assert "v3" in decision.reason


def test_equal_rmse_stays_challenger() -> None:
    decision = decide_promotion(10.0, Champion(version=1, rmse=10.0), margin=0.0)
    assert decision.alias == "challenger"
    assert not decision.promoted
    assert "does not beat champion" in decision.reason


def test_worse_rmse_stays_challenger() -> None:
    assert not decide_promotion(12.0, Champion(version=1, rmse=10.0), margin=0.0).promoted


@pytest.mark.parametrize(
    ("candidate", "promoted"), [(8.99, True), (9.0, False), (9.5, False), (1.0, True)]
)
def test_margin_is_relative_to_champion_rmse(candidate: float, promoted: bool) -> None:
    decision = decide_promotion(candidate, Champion(version=2, rmse=10.0), margin=0.1)
    assert decision.promoted is promoted
    assert "margin 0.1" in decision.reason
