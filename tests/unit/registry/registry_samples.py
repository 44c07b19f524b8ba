"""Tiny real ONNX models and matching model cards for the registry tests."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from contracts import (
    HOUSE_PRICES,
    CategoricalFeature,
    DatasetSpec,
    ModelCard,
    ModelMetrics,
    NumericReference,
    OnnxInput,
    ReferenceStatistics,
)

FEATURES = ("area", "bedrooms")
FLOAT_INPUTS = tuple((feature, "float") for feature in FEATURES)


def make_onnx(weights: Sequence[float] = (2.0, 3.0), bias: float = 1.0) -> bytes:
    """A linear regression with one float [N, 1] input per feature, as the trainer builds them."""
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [None, 1]) for n in FEATURES]
    output = helper.make_tensor_value_info("prediction", TensorProto.FLOAT, [None, 1])
    coefficients = np.array([[w] for w in weights], dtype=np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Concat", list(FEATURES), ["x"], axis=1),
            helper.make_node("MatMul", ["x", "coefficients"], ["xw"]),
            helper.make_node("Add", ["xw", "bias"], ["prediction"]),
        ],
        "linear",
        inputs,
        [output],
        [
            numpy_helper.from_array(coefficients, "coefficients"),
            numpy_helper.from_array(np.array([bias], dtype=np.float32), "bias"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    serialized: bytes = model.SerializeToString()
    return serialized


def make_card(
    rmse: float = 10.0,
    name: str = "house-prices",
    inputs: Sequence[tuple[str, str]] = FLOAT_INPUTS,
    champion: tuple[int, float] | None = None,
) -> ModelCard:
    """`champion`: (version, its rmse on this holdout), as the trainer reports it."""
    bins = NumericReference(bin_edges=(0.0, 1.0, 2.0), fractions=(0.5, 0.5))
    return ModelCard(
        model_name=name,
        dataset="house-prices",
        estimator="LinearRegression",
        metrics=ModelMetrics(
            rmse=rmse,
            mae=rmse / 2,
            r2=0.8,
            holdout_size=50,
            parity_max_abs_error=1e-6,
            champion_version=champion[0] if champion else None,
            champion_rmse=champion[1] if champion else None,
        ),
        inputs=tuple(OnnxInput.model_validate({"name": n, "type": t}) for n, t in inputs),
        snapshot_fingerprint="abc123",
        snapshot_size=500,
        reference=ReferenceStatistics(features={name: bins for name, _ in inputs}, prediction=bins),
    )


def make_spec_model(
    spec: DatasetSpec = HOUSE_PRICES, rmse: float = 10.0
) -> tuple[ModelCard, bytes]:
    """A card and an ONNX model with one input per feature of `spec`, typed as the trainer does.

    Only the numeric inputs are used (summed); string inputs are declared, as the layout wants.
    """
    inputs = [
        (f.name, "string" if isinstance(f, CategoricalFeature) else "float") for f in spec.features
    ]
    numeric = [n for n, t in inputs if t == "float"]
    graph = helper.make_graph(
        [
            helper.make_node("Concat", numeric, ["x"], axis=1),
            helper.make_node("ReduceSum", ["x", "axes"], ["prediction"], keepdims=1),
        ],
        "sum",
        [
            helper.make_tensor_value_info(
                n, TensorProto.STRING if t == "string" else TensorProto.FLOAT, [None, 1]
            )
            for n, t in inputs
        ],
        [helper.make_tensor_value_info("prediction", TensorProto.FLOAT, [None, 1])],
        [numpy_helper.from_array(np.array([1], dtype=np.int64), "axes")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return make_card(rmse=rmse, inputs=inputs), model.SerializeToString()
