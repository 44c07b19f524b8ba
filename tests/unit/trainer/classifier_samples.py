"""Classification data sets for the trainer's tests: scikit-learn's bundled ones as records."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np
from sklearn.datasets import load_breast_cancer, load_iris

from contracts import ClassificationTarget, DatasetSpec, NumericFeature, RecordIngested
from services.trainer.snapshot import Snapshot, take_snapshot

if TYPE_CHECKING:
    from collections.abc import Sequence

    from contracts.datasets import ClassificationMetric


def column_name(text: str) -> str:
    """'sepal length (cm)' -> 'sepal_length_cm': a valid feature name."""
    return re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9]", "_", text)).strip("_")


def classification_spec(
    name: str,
    features: Sequence[str],
    classes: Sequence[str],
    metric: ClassificationMetric = "log_loss",
    positive: str | None = None,
) -> DatasetSpec:
    return DatasetSpec(
        name=name,
        target=ClassificationTarget(
            name="label", classes=tuple(classes), metric=metric, positive_class=positive
        ),
        features=tuple(NumericFeature(name=f) for f in features),
    )


def records_of(
    spec: DatasetSpec, data: np.ndarray, labels: Sequence[str], prefix: str = "r"
) -> list[RecordIngested]:
    """One labelled record per row of `data`, ids `{prefix}-{row}`."""
    names = spec.feature_names
    return [
        RecordIngested(
            record_id=f"{prefix}-{row:05d}",
            dataset=spec.name,
            features={n: float(v) for n, v in zip(names, values, strict=True)},
            target=label,
        )
        for row, (values, label) in enumerate(zip(data, labels, strict=True))
    ]


def iris_records(
    metric: ClassificationMetric = "log_loss",
) -> tuple[DatasetSpec, list[RecordIngested]]:
    """150 flowers of three classes (multiclass), as labelled records."""
    bunch = load_iris()
    classes = [str(c) for c in bunch.target_names]
    spec = classification_spec(
        "iris", [column_name(f) for f in bunch.feature_names], classes, metric
    )
    labels = [classes[i] for i in bunch.target]
    return spec, records_of(spec, bunch.data, labels)


def iris(metric: ClassificationMetric = "log_loss") -> tuple[DatasetSpec, Snapshot]:
    """The iris records' snapshot."""
    spec, records = iris_records(metric)
    return spec, take_snapshot(records, spec)


def breast_cancer(
    metric: ClassificationMetric = "log_loss", rows: int | None = None
) -> tuple[DatasetSpec, Snapshot]:
    """569 tumours, malignant or benign (binary; positive: malignant)."""
    bunch = load_breast_cancer()
    classes = [str(c) for c in bunch.target_names]  # malignant, benign
    spec = classification_spec(
        "breast-cancer",
        [column_name(f) for f in bunch.feature_names],
        ("benign", "malignant"),
        metric,
        positive="malignant",
    )
    labels = [classes[i] for i in bunch.target]
    data = bunch.data if rows is None else bunch.data[:rows]
    return spec, take_snapshot(records_of(spec, data, labels[: len(data)]), spec)
