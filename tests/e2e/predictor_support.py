"""Helpers of the predictor's end-to-end tests: a tiny model uploaded to the stack's registry."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from contracts import OnnxInput
from tests.unit.predictor.predictor_fixtures import CATEGORICAL, NUMERIC, model_version

if TYPE_CHECKING:
    from mlbus.runner import Stack


def upload_model(
    stack: Stack, data: bytes, rmse: float, version_hint: int, categorical: str = CATEGORICAL
) -> dict[str, Any]:
    """Upload `data` as a new version whose holdout RMSE decides champion or challenger."""
    card = model_version(version_hint, data).card
    inputs = (OnnxInput(name=NUMERIC, type="float"), OnnxInput(name=categorical, type="string"))
    metrics = card.metrics.model_copy(update={"rmse": rmse})
    card = card.model_copy(update={"metrics": metrics, "inputs": inputs})
    response = httpx.post(
        stack.config.url("registry") + "/models/house-prices/versions",
        headers={"Authorization": f"Bearer {stack.config.registry_token}"},
        files={"artifact": ("m.onnx", data, "application/octet-stream")},
        data={"card": card.model_dump_json()},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body
