"""Fixtures of the predictor's unit tests: real tiny ONNX models, built once per session."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry
from sklearn.pipeline import Pipeline

from services.predictor.metrics import PredictorMetrics
from services.predictor.model import LoadedModel, load_model
from tests.unit.predictor.predictor_fixtures import (
    MODEL_NAME,
    fit_pipeline,
    sha256,
    tiny_model_bytes,
    to_onnx,
    training_frame,
)


@pytest.fixture(scope="session")
def pipeline() -> Pipeline:
    return fit_pipeline(training_frame())


@pytest.fixture(scope="session")
def onnx_v1(pipeline: Pipeline) -> bytes:
    return to_onnx(pipeline)


@pytest.fixture(scope="session")
def onnx_v2() -> bytes:
    """A different model: it predicts twice the price."""
    return tiny_model_bytes(price_scale=2.0)


@pytest.fixture(scope="session")
def model_v1(onnx_v1: bytes) -> LoadedModel:
    return load_model(MODEL_NAME, 1, onnx_v1, sha256(onnx_v1))


@pytest.fixture
def metrics() -> PredictorMetrics:
    return PredictorMetrics(CollectorRegistry())
