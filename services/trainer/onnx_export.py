"""sklearn pipeline -> ONNX with one [None, 1] input per feature, and the parity check."""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import onnxruntime as ort
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType, StringTensorType
from skl2onnx.operator_converters.random_forest import (
    convert_sklearn_random_forest_classifier,
    convert_sklearn_random_forest_regressor_converter,
)
from sklearn.base import is_classifier
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

from contracts import CategoricalFeature, DatasetSpec, OnnxInput

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline

log = logging.getLogger(__name__)

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
# A classifier's outputs: the most probable class ([N] strings) and every class's
# probability ([N, classes] float32, columns in the order of the card's `classes`).
LABEL_OUTPUT = "label"
PROBABILITIES_OUTPUT = "probabilities"


class ParityError(RuntimeError):
    """onnxruntime and sklearn disagree on the holdout by more than the tolerance."""


@dataclass(frozen=True)
class Parity:
    max_abs_error: float
    max_rel_error: float
    spread_error: float  # max_abs_error / the target's spread: the figure that is judged


def onnx_inputs(spec: DatasetSpec) -> tuple[OnnxInput, ...]:
    """The graph's inputs: categories as strings, every other feature as float."""
    return tuple(
        OnnxInput(name=f.name, type="string" if isinstance(f, CategoricalFeature) else "float")
        for f in spec.features
    )


def to_onnx(pipeline: Pipeline, spec: DatasetSpec) -> bytes:
    """Serialised ONNX model of a fitted pipeline, with the input layout of `onnx_inputs`.

    A classifier's probabilities come out as a plain tensor (no ZipMap: a list of dicts per
    row is slow to serve and not a tensor any client expects), its labels as strings.
    """
    initial_types = [
        (i.name, StringTensorType([None, 1]) if i.type == "string" else FloatTensorType([None, 1]))
        for i in onnx_inputs(spec)
    ]
    exact = _float32_exact_thresholds(pipeline)
    estimator = exact.steps[-1][1]
    options = {id(estimator): {"zipmap": False}} if is_classifier(estimator) else None
    model = convert_sklearn(
        exact,
        name=spec.name,
        initial_types=initial_types,
        options=options,
        custom_conversion_functions=_CUSTOM_CONVERTERS,
    )
    return bytes(model.SerializeToString())


def onnx_feeds(frame: pd.DataFrame, spec: DatasetSpec) -> dict[str, np.ndarray[Any, Any]]:
    """onnxruntime feeds for a model frame (see snapshot.model_frame): one [N, 1] per input."""
    feeds: dict[str, np.ndarray[Any, Any]] = {}
    for model_input in onnx_inputs(spec):
        column = frame[model_input.name].to_numpy()
        dtype = object if model_input.type == "string" else np.float32
        feeds[model_input.name] = column.astype(dtype).reshape(-1, 1)
    return feeds


def onnx_predict(model: bytes, frame: pd.DataFrame, spec: DatasetSpec) -> FloatArray:
    """Predictions of the ONNX model for a model frame, in one session.run."""
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    output = session.run([session.get_outputs()[0].name], onnx_feeds(frame, spec))[0]
    return np.asarray(output, dtype=np.float64).reshape(len(frame))


def target_spread(truth: FloatArray) -> float:
    """The scale parity is judged on: the standard deviation of the holdout's target, or,
    for a constant target, its magnitude (at least 1)."""
    spread = float(np.std(truth)) if len(truth) else 0.0
    if spread > 0 and np.isfinite(spread):
        return spread
    return max(float(np.abs(truth).max(initial=0.0)), 1.0)


def check_parity(
    expected: FloatArray, actual: FloatArray, tolerance: float, spread: float = 1.0
) -> Parity:
    """Largest disagreement of onnx with sklearn; ParityError when it exceeds `tolerance`
    times the target's `spread` (see `target_spread`).

    Judged against the spread, not the prediction: a difference a user would never act on
    (far below the model's own error, which is a sizeable part of the spread) is no reason to
    refuse a model, however small the prediction it sits on. The relative error (dividing by
    max(|expected|, 1)) is reported beside it.
    """
    if expected.shape != actual.shape:
        raise ParityError(f"onnx gave {actual.shape} predictions for {expected.shape} rows")
    if not np.all(np.isfinite(actual)):
        raise ParityError("onnx predictions contain NaN or infinity")
    errors = np.abs(actual - expected)
    relative = errors / np.maximum(np.abs(expected), 1.0)
    max_abs = float(errors.max(initial=0.0))
    parity = Parity(
        max_abs_error=max_abs,
        max_rel_error=float(relative.max(initial=0.0)),
        spread_error=max_abs / spread,
    )
    if not parity.spread_error <= tolerance:
        raise ParityError(
            f"onnx and sklearn disagree on the holdout by up to {max_abs:.6g}, "
            f"{parity.spread_error:.3g} of the target's spread {spread:.6g} "
            f"> tolerance {tolerance:.3g}"
        )
    return parity


def _float32_exact_thresholds(pipeline: Pipeline) -> Pipeline:
    """A copy whose boosted-tree thresholds are float32 numbers that split exactly as before.

    ONNX tree ensembles hold float32 thresholds, and a float64 threshold t rounded to the
    nearest float32 can land on a value x just above t: sklearn sends x right, onnxruntime
    left (measured: 4.6e-3 relative error on real data). Every value a tree sees here is a
    float32 (model_frame feeds float32; the imputer and one-hot encoder add float32 values
    and 0/1), and for a float32 x, x <= t exactly when x <= the largest float32 <= t. So
    rounding each threshold down changes no decision of sklearn, and onnxruntime, given the
    same float32 inputs, then takes the very same path.
    """
    boosted = pipeline.steps[-1][1]
    if not isinstance(boosted, HistGradientBoostingRegressor | HistGradientBoostingClassifier):
        return pipeline
    exact = copy.deepcopy(pipeline)
    for iteration in exact.steps[-1][1]._predictors:
        for predictor in iteration:
            nodes = predictor.nodes
            nodes["num_threshold"] = _round_down_to_float32(nodes["num_threshold"])
    return exact


def _round_down_to_float32(values: FloatArray) -> FloatArray:
    """The largest float32 <= each value, as float64."""
    rounded = values.astype(np.float32)
    above = rounded.astype(np.float64) > values
    rounded[above] = np.nextafter(rounded[above], np.float32(-np.inf))
    return rounded.astype(np.float64)


class _IntFlagsContainer:
    """Passes every call through, but hands boolean list attributes to ONNX as 0/1 ints.

    skl2onnx 1.20 writes HistGradientBoosting's `nodes_missing_value_tracks_true` partly as
    Python booleans, which protobuf >= 7 refuses for an INTS attribute.
    """

    def __init__(self, container: Any) -> None:
        self._container = container

    def __getattr__(self, name: str) -> Any:
        return getattr(self._container, name)

    def add_node(self, *args: Any, **attrs: Any) -> Any:
        fixed = {name: _ints_for_bools(value) for name, value in attrs.items()}
        return self._container.add_node(*args, **fixed)


def _ints_for_bools(value: Any) -> Any:
    if isinstance(value, list):
        return [int(v) if isinstance(v, bool | np.bool_) else v for v in value]
    return value


def _hist_gradient_boosting_regressor(scope: Any, operator: Any, container: Any) -> None:
    convert_sklearn_random_forest_regressor_converter(
        scope, operator, _IntFlagsContainer(container)
    )


def _hist_gradient_boosting_classifier(scope: Any, operator: Any, container: Any) -> None:
    convert_sklearn_random_forest_classifier(scope, operator, _IntFlagsContainer(container))


_CUSTOM_CONVERTERS = {
    HistGradientBoostingRegressor: _hist_gradient_boosting_regressor,
    HistGradientBoostingClassifier: _hist_gradient_boosting_classifier,
}
