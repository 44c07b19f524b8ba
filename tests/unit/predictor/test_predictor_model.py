"""LoadedModel: verified loading, and batch scoring that agrees with scikit-learn."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import pandas as pd
import pytest
from onnx import TensorProto, helper
from sklearn.pipeline import Pipeline

from mlbus.datagen import RecordGenerator
from services.predictor.model import LoadedModel, ModelLoadError, load_model
from tests.unit.predictor.predictor_fixtures import CATEGORICAL, MODEL_NAME, NUMERIC, sha256


def _requests(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """Full house-price feature dicts, as ingest sends them (the model uses two of them)."""
    records = RecordGenerator(seed=seed).records(count, labelled=False)
    return [{k: v for k, v in r.items() if k != "record_id"} for r in records]


def _sklearn(pipeline: Pipeline, rows: list[dict[str, Any]]) -> np.ndarray:
    frame = pd.DataFrame(rows)[[NUMERIC, CATEGORICAL]]
    frame[NUMERIC] = frame[NUMERIC].astype(np.float32)
    return np.asarray(pipeline.predict(frame), dtype=np.float64)


class CountingSession:
    """Wraps an onnxruntime session and records every run's feeds."""

    def __init__(self, session: Any) -> None:
        self._session = session
        self.feeds: list[dict[str, np.ndarray]] = []

    def run(self, outputs: Any, feeds: dict[str, np.ndarray]) -> Any:
        self.feeds.append(feeds)
        return self._session.run(outputs, feeds)


def test_inputs_and_types_come_from_the_session(model_v1: LoadedModel) -> None:
    assert [(i.name, i.type) for i in model_v1.inputs] == [
        (NUMERIC, "tensor(float)"),
        (CATEGORICAL, "tensor(string)"),
    ]


def test_batch_scoring_equals_sklearn(model_v1: LoadedModel, pipeline: Pipeline) -> None:
    rows = _requests(200)
    predictions = model_v1.predict(rows)
    assert predictions.shape == (200,)
    np.testing.assert_allclose(predictions, _sklearn(pipeline, rows), rtol=1e-4)


def test_one_session_run_per_batch_with_one_column_per_input(
    onnx_v1: bytes, pipeline: Pipeline
) -> None:
    model = load_model(MODEL_NAME, 1, onnx_v1, sha256(onnx_v1))
    counting = CountingSession(model.session)
    model.session = counting
    rows = _requests(64)
    model.predict(rows)
    assert len(counting.feeds) == 1
    feeds = counting.feeds[0]
    assert feeds[NUMERIC].shape == (64, 1)
    assert feeds[NUMERIC].dtype == np.float32
    assert feeds[CATEGORICAL].shape == (64, 1)
    assert feeds[CATEGORICAL].dtype == object
    assert feeds[CATEGORICAL][0, 0] == rows[0][CATEGORICAL]


def test_missing_values_become_nan_and_empty_string(
    model_v1: LoadedModel, pipeline: Pipeline
) -> None:
    unknown_category = {NUMERIC: 5000.0, CATEGORICAL: None}
    predictions = model_v1.predict([unknown_category, {NUMERIC: None, CATEGORICAL: "furnished"}])
    # "" is an unknown category, which the one-hot encoder ignores, as sklearn does.
    expected = _sklearn(pipeline, [{NUMERIC: 5000.0, CATEGORICAL: ""}])
    np.testing.assert_allclose(predictions[:1], expected, rtol=1e-4)
    assert np.isnan(predictions[1])


def test_row_problem_names_the_feature(model_v1: LoadedModel) -> None:
    assert model_v1.row_problem({NUMERIC: 1.0, CATEGORICAL: "furnished", "extra": 1}) is None
    assert model_v1.row_problem({NUMERIC: True, CATEGORICAL: None}) is None
    assert "missing feature 'area'" in str(model_v1.row_problem({CATEGORICAL: "furnished"}))
    assert "must be a number" in str(model_v1.row_problem({NUMERIC: "big", CATEGORICAL: "x"}))
    assert "must be a string" in str(model_v1.row_problem({NUMERIC: 1, CATEGORICAL: 3}))


def test_loading_verifies_the_sha256(onnx_v1: bytes) -> None:
    with pytest.raises(ModelLoadError, match=r"sha256 .* does not match"):
        load_model(MODEL_NAME, 1, onnx_v1, sha256(b"some other artifact"))


def test_loading_accepts_an_uppercase_expected_hash(onnx_v1: bytes) -> None:
    model = load_model(MODEL_NAME, 3, onnx_v1, sha256(onnx_v1).upper())
    assert (model.name, model.version, model.sha256) == (MODEL_NAME, 3, sha256(onnx_v1))


def test_corrupt_bytes_are_refused(onnx_v1: bytes) -> None:
    corrupt = onnx_v1[: len(onnx_v1) // 2]
    with pytest.raises(ModelLoadError, match="onnxruntime cannot load it"):
        load_model(MODEL_NAME, 2, corrupt, sha256(corrupt))


def test_unsupported_input_types_are_refused() -> None:
    graph = helper.make_graph(
        [helper.make_node("Cast", ["rooms"], ["price"], to=TensorProto.FLOAT)],
        "int-input",
        [helper.make_tensor_value_info("rooms", TensorProto.INT64, [None, 1])],
        [helper.make_tensor_value_info("price", TensorProto.FLOAT, [None, 1])],
    )
    data = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    data.ir_version = 8
    onnx.checker.check_model(data)
    raw = data.SerializeToString()
    with pytest.raises(
        ModelLoadError, match=r"unsupported input types \['rooms: tensor\(int64\)'\]"
    ):
        load_model(MODEL_NAME, 1, raw, sha256(raw))


def test_a_model_whose_output_is_not_one_value_per_row_fails_warm_up() -> None:
    graph = helper.make_graph(
        [helper.make_node("Concat", ["a", "a"], ["out"], axis=1)],
        "two-outputs-per-row",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [None, 1])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [None, 2])],
    )
    data = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    data.ir_version = 8
    raw = data.SerializeToString()
    with pytest.raises(ModelLoadError, match="warm-up failed"):
        load_model(MODEL_NAME, 1, raw, sha256(raw))
