"""The parity check between onnxruntime and sklearn predictions, judged on the target's spread."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_diabetes
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from contracts import DatasetSpec, NumericFeature, RegressionTarget
from services.trainer.onnx_export import (
    ParityError,
    check_parity,
    onnx_predict,
    target_spread,
    to_onnx,
)
from services.trainer.snapshot import model_frame
from services.trainer.training import build_pipeline


def test_parity_reports_absolute_relative_and_spread_errors() -> None:
    expected = np.array([1000.0, 2_000_000.0, 0.0])
    actual = np.array([1000.5, 2_000_001.0, 0.0002])
    parity = check_parity(expected, actual, tolerance=1e-3, spread=10_000.0)
    assert parity.max_abs_error == pytest.approx(1.0)
    assert parity.max_rel_error == pytest.approx(0.5 / 1000.0)
    assert parity.spread_error == pytest.approx(1.0 / 10_000.0)


def test_a_small_prediction_is_judged_by_the_spread_not_by_its_own_size() -> None:
    """0.5 on a prediction of 2 is 25 % of it, but 0.1 % of a target spread of 500."""
    parity = check_parity(np.array([2.0, 900.0]), np.array([2.5, 900.0]), 0.01, spread=500.0)
    assert parity.max_rel_error == pytest.approx(0.25)
    assert parity.spread_error == pytest.approx(0.001)


def test_errors_above_the_tolerance_of_the_spread_are_refused() -> None:
    with pytest.raises(ParityError, match=r"0\.1 of the target's spread 10 > tolerance 0\.01"):
        check_parity(np.array([100.0, 5.0]), np.array([101.0, 5.0]), tolerance=0.01, spread=10.0)


def test_the_spread_is_the_targets_std_or_its_size_when_constant() -> None:
    assert target_spread(np.array([1.0, 3.0])) == pytest.approx(1.0)
    assert target_spread(np.array([7.0, 7.0])) == 7.0
    assert target_spread(np.array([0.0, 0.0])) == 1.0


def test_nan_or_a_wrong_shape_is_refused() -> None:
    with pytest.raises(ParityError, match="NaN"):
        check_parity(np.array([1.0, 2.0]), np.array([1.0, np.nan]), tolerance=1.0)
    with pytest.raises(ParityError, match="predictions for"):
        check_parity(np.array([1.0, 2.0]), np.array([1.0]), tolerance=1.0)


def test_boosted_trees_on_real_data_take_sklearns_paths_in_onnx() -> None:
    """scikit-learn's diabetes data (unscaled), trained on every other row, scored on the
    rest: thresholds rounded to the nearest float32 sent rows down the other branch
    (measured: |onnx - sklearn| up to 2.4, 3 % of the target's spread); rounded down, every
    row takes sklearn's path and only float32 leaf sums differ."""
    data = load_diabetes(as_frame=True, scaled=False).frame
    spec = DatasetSpec(
        name="diabetes",
        target=RegressionTarget(name="target"),
        features=tuple(NumericFeature(name=c) for c in data.columns if c != "target"),
    )
    frame = model_frame(data.to_dict("records"), spec)
    pipeline = build_pipeline(spec, "hist_gradient_boosting")
    with threadpool_limits(limits=1):  # as the trainer fits: no OpenMP spinning
        pipeline.fit(frame.iloc[::2], data["target"].to_numpy()[::2])
    unseen = frame.iloc[1::2]
    expected = np.asarray(pipeline.predict(unseen), dtype=np.float64)
    actual = onnx_predict(to_onnx(pipeline, spec), unseen, spec)
    parity = check_parity(expected, actual, 1e-5, target_spread(data["target"].to_numpy()))
    assert parity.max_abs_error < 1e-3
