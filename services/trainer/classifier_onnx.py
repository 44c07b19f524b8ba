"""A classifier's ONNX model run on a frame, and its parity with sklearn on the probabilities."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import onnxruntime as ort

from services.trainer.onnx_export import (
    LABEL_OUTPUT,
    PROBABILITIES_OUTPUT,
    FloatArray,
    ParityError,
    onnx_feeds,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pandas as pd

    from contracts import DatasetSpec

StrArray = np.ndarray[Any, np.dtype[np.object_]]


@dataclass(frozen=True)
class Classified:
    """A classifier's answer for each row: its most probable class and every probability
    (columns in the model's class order)."""

    labels: StrArray
    probabilities: FloatArray


def onnx_classify(model: bytes, frame: pd.DataFrame, spec: DatasetSpec) -> Classified:
    """Labels and probabilities of a classifier's ONNX model for a model frame, in one run."""
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    labels, probabilities = session.run(
        [LABEL_OUTPUT, PROBABILITIES_OUTPUT], onnx_feeds(frame, spec)
    )
    return Classified(
        labels=np.asarray(labels, dtype=object).reshape(len(frame)),
        probabilities=np.asarray(probabilities, dtype=np.float64).reshape(len(frame), -1),
    )


def check_probability_parity(
    expected: Classified, served: Classified, classes: Sequence[str], tolerance: float
) -> float:
    """Largest |onnx - sklearn| of any probability; ParityError above `tolerance`, or when
    a row's label differs while sklearn's probabilities of the two labels are further apart
    than `tolerance` (a near tie may fall either way in float32)."""
    if expected.probabilities.shape != served.probabilities.shape:
        raise ParityError(
            f"onnx gave probabilities of shape {served.probabilities.shape},"
            f" sklearn {expected.probabilities.shape}"
        )
    if not np.all(np.isfinite(served.probabilities)):
        raise ParityError("onnx probabilities contain NaN or infinity")
    max_abs = float(np.abs(served.probabilities - expected.probabilities).max(initial=0.0))
    if not max_abs <= tolerance:
        raise ParityError(
            f"onnx and sklearn probabilities differ on the holdout by up to {max_abs:.3g}"
            f" > tolerance {tolerance:.3g}"
        )
    disagreements = _label_disagreements(expected, served, classes, tolerance)
    if disagreements:
        raise ParityError(
            f"onnx and sklearn predict different classes for {disagreements} holdout rows"
        )
    return max_abs


def _label_disagreements(
    expected: Classified, served: Classified, classes: Sequence[str], tolerance: float
) -> int:
    """Rows whose labels differ though sklearn's label is clearly more probable."""
    differ = np.flatnonzero(expected.labels != served.labels)
    if differ.size == 0:
        return 0
    column = {label: index for index, label in enumerate(classes)}
    rows = expected.probabilities[differ]
    ours = np.array([column.get(label, -1) for label in expected.labels[differ]])
    theirs = np.array([column.get(label, -1) for label in served.labels[differ]])
    if (theirs < 0).any() or (ours < 0).any():  # a label that is not one of the classes
        return int(differ.size)
    index = np.arange(differ.size)
    gaps = rows[index, ours] - rows[index, theirs]
    return int((gaps > tolerance).sum())
