"""`mlbus models` against a real registry app: one line per model, with its champion."""

from __future__ import annotations

import httpx
import pytest

from mlbus.cli import main
from tests.unit.mlbus.conftest import TOKEN
from tests.unit.registry.registry_samples import make_card, make_onnx


def upload(registry_url: str, name: str, rmse: float) -> None:
    """Upload a linear model named `name` (data set house-prices) with holdout `rmse`."""
    card = make_card(rmse=rmse, name=name)
    response = httpx.post(
        f"{registry_url}/models/{name}/versions",
        files={"artifact": ("model.onnx", make_onnx(), "application/octet-stream")},
        data={"card": card.model_dump_json()},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=30,
    )
    assert response.status_code == 201, response.text


def test_models_lists_each_model_with_its_data_set_champion_and_challenger(
    registry: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", "--registry", registry]) == 0
    assert capsys.readouterr().out == "no models registered yet\n"
    upload(registry, "house-prices", rmse=10.0)
    upload(registry, "house-prices", rmse=12.0)  # worse: stays the challenger
    upload(registry, "flats", rmse=4.0)
    assert main(["models", "--registry", registry]) == 0
    lines = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert lines == [
        ["flats", "house-prices", "regression", "rmse", "champion", "v1", "challenger", "-",
         "latest", "v1", "rmse=4", "mae=2", "r2=0.8"],
        ["house-prices", "house-prices", "regression", "rmse", "champion", "v1", "challenger",
         "v2", "latest", "v2", "rmse=10", "mae=5", "r2=0.8"],
    ]  # fmt: skip
