"""Trainer settings: env names, the required token, defaults derived from the spec."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from contracts import HOUSE_PRICES
from services.common.specfile import dump_spec
from services.trainer.config import Settings
from services.trainer.selection import SnapshotSelection
from tests.unit.trainer.trainer_samples import TOKEN


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    names = ("REGISTRY_TOKEN", "MODEL_NAME", "ESTIMATOR", "SPEC", "RETRAIN_EVERY")
    extra = ("HYPERPARAMETERS", "SNAPSHOT_MODE", "SNAPSHOT_RECORDS", "SNAPSHOT_WINDOW_SECONDS")
    for name in names + extra:
        monkeypatch.delenv(f"MLBUS_TRAINER_{name}", raising=False)


def test_defaults_with_only_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLBUS_TRAINER_REGISTRY_TOKEN", TOKEN)
    settings = Settings()
    assert settings.registry_token.get_secret_value() == TOKEN
    assert TOKEN not in repr(settings)
    assert settings.port == 8002
    assert settings.registry_url == "http://127.0.0.1:8003"
    assert settings.model_name == "house-prices"
    assert settings.estimator == "hist_gradient_boosting"
    assert (settings.retrain_every, settings.min_records, settings.max_records) == (
        500,
        200,
        100_000,
    )
    assert (settings.parity_tolerance, settings.holdout_fraction) == (0.01, 0.2)
    assert settings.training_options.estimator == "hist_gradient_boosting"


def test_env_variables_configure_the_trainer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLBUS_TRAINER_REGISTRY_TOKEN", TOKEN)
    monkeypatch.setenv("MLBUS_TRAINER_ESTIMATOR", "hist_gradient_boosting")
    monkeypatch.setenv("MLBUS_TRAINER_RETRAIN_EVERY", "42")
    monkeypatch.setenv("MLBUS_TRAINER_MODEL_NAME", "houses-eu")
    monkeypatch.setenv("MLBUS_KAFKA_TOPIC_PREFIX", "t1.")
    settings = Settings()
    assert settings.estimator == "hist_gradient_boosting"
    assert settings.retrain_every == 42
    assert settings.model_name == "houses-eu"
    assert settings.kafka.topics.records == "t1.ingest.records.v1"


def test_model_name_defaults_to_the_spec_name(tmp_path: Path) -> None:
    path = tmp_path / "flats.yaml"
    path.write_text(dump_spec(HOUSE_PRICES.model_copy(update={"name": "flats"})))
    assert Settings(registry_token=TOKEN, spec=str(path)).model_name == "flats"


@pytest.mark.parametrize("token", [None, "", "  ", "changeme", "CHANGEME"])
def test_a_missing_or_placeholder_token_stops_the_service(token: str | None) -> None:
    with pytest.raises(ValidationError, match="registry_token"):
        Settings() if token is None else Settings(registry_token=token)


@pytest.mark.parametrize(
    ("field", "value"),
    [("estimator", "svm"), ("model_name", "Bad Name"), ("min_records", 5)],
)
def test_invalid_values_are_refused(field: str, value: Any) -> None:
    with pytest.raises(ValidationError):
        Settings(registry_token=TOKEN, **{field: value})


def test_drift_runs_must_be_able_to_reach_min_records() -> None:
    with pytest.raises(ValidationError, match="drift_records"):
        Settings(registry_token=TOKEN, min_records=1000, drift_records=500)


def test_env_variables_choose_hyperparameters_and_the_snapshot(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLBUS_TRAINER_REGISTRY_TOKEN", TOKEN)
    monkeypatch.setenv("MLBUS_TRAINER_ESTIMATOR", "random_forest")
    monkeypatch.setenv("MLBUS_TRAINER_HYPERPARAMETERS", '{"n_estimators": 20, "max_depth": 6}')
    monkeypatch.setenv("MLBUS_TRAINER_SNAPSHOT_MODE", "window")
    monkeypatch.setenv("MLBUS_TRAINER_SNAPSHOT_WINDOW_SECONDS", "3600")
    settings = Settings()
    assert settings.training_options.hyperparameters == {"n_estimators": 20, "max_depth": 6}
    assert settings.snapshot_selection == SnapshotSelection("window", window_seconds=3600.0)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"snapshot_mode": "recent"}, "needs records"),
        ({"snapshot_mode": "window"}, "needs window_seconds"),
        ({"estimator": "linear", "hyperparameters": {"max_depth": 3}}, "has no hyperparameters"),
        ({"hyperparameters": {"random_state": 1}}, "set by the trainer"),
    ],
)
def test_incomplete_training_choices_stop_the_service(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(registry_token=TOKEN, **values)
