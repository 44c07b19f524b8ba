"""A synthetic classifier: events, labels and reference statistics that agree with each other.

One numeric feature x ~ N(shift, 1); the model's probabilities are a softmax of x, and each
label is drawn from those probabilities (so the model is calibrated on its own data). Shared
by the monitor's unit and service tests (imported as a module, not a conftest).
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import uuid4

import numpy as np

from contracts import (
    ClassificationMade,
    NumericReference,
    RecordIngested,
    ReferenceStatistics,
)
from services.monitor.accumulate import Baseline
from tests.unit.monitor.monitor_samples import categorical_reference, numeric_reference

BINARY = ("no", "yes")
MULTICLASS = ("low", "mid", "high")
REFERENCE_ROWS = 5000


@dataclass(frozen=True)
class Classified:
    """Events of one synthetic stream and the labels of its records."""

    events: list[ClassificationMade]
    labels: list[RecordIngested]
    probabilities: np.ndarray  # rows x classes, in the order of `classes`
    label_indexes: np.ndarray
    predicted_indexes: np.ndarray


def probabilities_of(x: np.ndarray, classes: tuple[str, ...]) -> np.ndarray:
    """Softmax of evenly spaced slopes times x, the middle classes raised (so that each class
    is the most probable for some x): one column per class."""
    slopes = np.linspace(-1.5, 1.5, len(classes))
    logits = np.outer(x, slopes) + (1 - np.abs(slopes) / 1.5)
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return np.asarray(exp / exp.sum(axis=1, keepdims=True))


def predicted_of(probabilities: np.ndarray, threshold: float | None) -> np.ndarray:
    if threshold is None:
        return np.asarray(np.argmax(probabilities, axis=1))
    return (probabilities[:, -1] >= threshold).astype(np.int64)


def classify(
    count: int,
    seed: int,
    classes: tuple[str, ...] = BINARY,
    *,
    shift: float = 0.0,
    threshold: float | None = 0.5,
    model_version: int = 1,
    sharpen: float = 1.0,
) -> Classified:
    """`count` classified records of model "churn"; binary ones use `threshold`. Labels are
    drawn from the model's probabilities; the published ones are then raised to the power
    `sharpen` (renormalised): over 1 an overconfident model, under 1 an underconfident one."""
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1.0, count)
    probabilities = probabilities_of(x, classes)
    labels = np.asarray([rng.choice(len(classes), p=row) for row in probabilities])
    probabilities = probabilities**sharpen / (probabilities**sharpen).sum(axis=1, keepdims=True)
    predicted = predicted_of(probabilities, threshold if len(classes) == 2 else None)
    ids = [f"c{seed}-{i}" for i in range(count)]
    events = [
        ClassificationMade(
            record_id=record_id,
            request_event_id=uuid4(),
            model_name="churn",
            model_version=model_version,
            prediction=classes[predicted[i]],
            probabilities=dict(zip(classes, probabilities[i].tolist(), strict=True)),
            threshold=threshold if len(classes) == 2 else None,
            features={"x": float(x[i])},
        )
        for i, record_id in enumerate(ids)
    ]
    records = [
        RecordIngested(
            record_id=record_id, dataset="churn", features={"x": float(x[i])}, target=classes[j]
        )
        for i, (record_id, j) in enumerate(zip(ids, labels, strict=True))
    ]
    return Classified(events, records, probabilities, labels, predicted)


def classifier_reference(classes: tuple[str, ...] = BINARY) -> ReferenceStatistics:
    """What the trainer would record for the model on REFERENCE_ROWS training rows."""
    sample = classify(REFERENCE_ROWS, seed=0, classes=classes)
    columns = sample.probabilities.T
    probabilities: dict[str, NumericReference] = {
        name: numeric_reference(columns[i].tolist()) for i, name in enumerate(classes)
    }
    return ReferenceStatistics(
        features={"x": numeric_reference([float(e.features["x"] or 0) for e in sample.events])},
        prediction=categorical_reference([e.prediction for e in sample.events]),
        probabilities=probabilities,
        labels=categorical_reference([str(r.target) for r in sample.labels]),
        size=REFERENCE_ROWS,
    )


def classifier_baseline(classes: tuple[str, ...] = BINARY) -> Baseline:
    return Baseline(
        classifier_reference(classes),
        REFERENCE_ROWS,
        holdout_scores={"accuracy": 0.8, "log_loss": 0.45},
        positive=classes[-1] if len(classes) == 2 else None,
    )
