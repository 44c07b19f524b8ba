"""Predictor settings: the model it serves is named after the spec it runs with."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from contracts import HOUSE_PRICES
from services.common.specfile import dump_spec
from services.predictor.config import Settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MODEL_NAME", "SPEC"):
        monkeypatch.delenv(f"MLBUS_PREDICTOR_{name}", raising=False)


def spec_file(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(dump_spec(HOUSE_PRICES.model_copy(update={"name": name})))
    return path


def test_the_model_name_is_the_spec_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLBUS_PREDICTOR_SPEC", str(spec_file(tmp_path, "diabetes")))
    assert Settings().model_name == "diabetes"


def test_an_explicit_model_name_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLBUS_PREDICTOR_SPEC", str(spec_file(tmp_path, "diabetes")))
    monkeypatch.setenv("MLBUS_PREDICTOR_MODEL_NAME", "diabetes-v2")
    assert Settings().model_name == "diabetes-v2"


def test_a_name_the_registry_would_refuse_stops_the_service(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="must match"):
        Settings(spec=str(spec_file(tmp_path, "x" * 70)))
