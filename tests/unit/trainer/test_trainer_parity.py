"""The parity check between onnxruntime and sklearn predictions."""

from __future__ import annotations

import numpy as np
import pytest

from services.trainer.onnx_export import ParityError, check_parity


def test_parity_reports_absolute_and_relative_errors() -> None:
    expected = np.array([1000.0, 2_000_000.0, 0.0])
    actual = np.array([1000.5, 2_000_001.0, 0.0002])
    parity = check_parity(expected, actual, tolerance=1e-3)
    assert parity.max_abs_error == pytest.approx(1.0)
    assert parity.max_rel_error == pytest.approx(0.5 / 1000.0)


def test_near_zero_predictions_are_judged_by_their_absolute_error() -> None:
    parity = check_parity(np.array([1e-9]), np.array([2e-9]), tolerance=1e-3)
    assert parity.max_rel_error == pytest.approx(1e-9)


def test_errors_above_the_tolerance_are_refused() -> None:
    with pytest.raises(ParityError, match=r"max relative error 0\.01 > tolerance 0\.001"):
        check_parity(np.array([100.0, 5.0]), np.array([101.0, 5.0]), tolerance=1e-3)


def test_nan_or_a_wrong_shape_is_refused() -> None:
    with pytest.raises(ParityError, match="NaN"):
        check_parity(np.array([1.0, 2.0]), np.array([1.0, np.nan]), tolerance=1.0)
    with pytest.raises(ParityError, match="predictions for"):
        check_parity(np.array([1.0, 2.0]), np.array([1.0]), tolerance=1.0)
