"""Real tiny ONNX classifiers laid out as the trainer exports them, with their cards.

A scikit-learn LogisticRegression behind the trainer's column layout (one [N, 1] input per
feature: numbers as float, categories as string), converted by skl2onnx without ZipMap: output 0
is the label, output 1 the probabilities, one column per class in `classes_` order.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType, StringTensorType
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from contracts import (
    CategoricalFeature,
    CategoricalReference,
    ClassificationTarget,
    DatasetSpec,
    ModelCard,
    ModelMetrics,
    ModelVersion,
    NumericFeature,
    NumericReference,
    OnnxInput,
    ReferenceStatistics,
)

NUMERIC = ("x1", "x2")
CATEGORICAL = "colour"
COLOURS = ("red", "green", "blue")
BINARY = ("no", "yes")
MULTICLASS = ("cat", "dog", "fox")


def classification_spec(
    classes: tuple[str, ...] = BINARY, name: str = "churn", **target: Any
) -> DatasetSpec:
    """Two numeric features and a colour; the target has `classes` (and any other settings)."""
    return DatasetSpec(
        name=name,
        target=ClassificationTarget(name="label", classes=classes, **target),
        features=(
            *(NumericFeature(name=n) for n in NUMERIC),
            CategoricalFeature(name=CATEGORICAL, categories=COLOURS),
        ),
    )


def feature_rows(count: int, seed: int = 0) -> list[dict[str, Any]]:
    """Records' features: x1 and x2 standard normal, a colour at random."""
    rng = np.random.default_rng(seed)
    numbers = rng.normal(size=(count, len(NUMERIC))).round(4)
    colours = rng.choice(COLOURS, size=count)
    return [
        {NUMERIC[0]: float(a), NUMERIC[1]: float(b), CATEGORICAL: str(c)}
        for (a, b), c in zip(numbers.tolist(), colours.tolist(), strict=True)
    ]


def noisy_labels(rows: list[dict[str, Any]], classes: tuple[str, ...], seed: int = 0) -> list[str]:
    """A class per row from x1 (and noise), so the model is unsure of many rows."""
    rng = np.random.default_rng(seed + 1)
    x1 = np.array([row[NUMERIC[0]] for row in rows]) + rng.normal(scale=0.8, size=len(rows))
    edges = np.quantile(x1, np.linspace(0, 1, len(classes) + 1)[1:-1])
    return [classes[i] for i in np.searchsorted(edges, x1).tolist()]


def fit_classifier(classes: tuple[str, ...], rows: int = 400, seed: int = 0) -> Pipeline:
    """A LogisticRegression on the trainer's layout, fitted on `rows` noisy records."""
    records = feature_rows(rows, seed)
    frame = pd.DataFrame(records)
    frame[list(NUMERIC)] = frame[list(NUMERIC)].astype(np.float32)
    pipeline = Pipeline(
        [
            (
                "columns",
                ColumnTransformer(
                    [
                        ("num", StandardScaler(), list(NUMERIC)),
                        ("cat", OneHotEncoder(handle_unknown="ignore"), [CATEGORICAL]),
                    ]
                ),
            ),
            ("classifier", LogisticRegression(max_iter=500)),
        ]
    )
    pipeline.fit(frame, noisy_labels(records, classes, seed))
    return pipeline


def classifier_onnx(pipeline: Pipeline) -> bytes:
    """The ONNX model without ZipMap: label, then probabilities [N, n_classes]."""
    initial_types = [
        *((n, FloatTensorType([None, 1])) for n in NUMERIC),
        (CATEGORICAL, StringTensorType([None, 1])),
    ]
    classifier = pipeline.named_steps["classifier"]
    model = convert_sklearn(
        pipeline, initial_types=initial_types, options={id(classifier): {"zipmap": False}}
    )
    return bytes(model.SerializeToString())


def model_classes(pipeline: Pipeline) -> tuple[str, ...]:
    """The class of each probability column, as the card records them."""
    return tuple(str(c) for c in pipeline.named_steps["classifier"].classes_)


def classifier_card(
    spec: DatasetSpec, classes: tuple[str, ...], version: int = 1, **metrics: Any
) -> ModelCard:
    """A classifier's card for `spec` (its target as trained), scored by log loss by default."""
    bins = NumericReference(bin_edges=(-3.0, 0.0, 3.0), fractions=(0.5, 0.5))
    scores = {"log_loss": 0.4, "accuracy": 0.8, "macro_f1": 0.78, "metric": "log_loss"}
    return ModelCard(
        model_name=spec.name,
        dataset=spec.name,
        estimator="LogisticRegression",
        metrics=ModelMetrics(
            task="classification",
            holdout_size=80,
            parity_max_abs_error=1e-7,
            **(scores | metrics),
        ),
        inputs=(
            *(OnnxInput(name=n, type="float") for n in NUMERIC),
            OnnxInput(name=CATEGORICAL, type="string"),
        ),
        snapshot_fingerprint=f"snapshot-{version}",
        snapshot_size=400,
        reference=ReferenceStatistics(
            features={
                **{n: bins for n in NUMERIC},
                CATEGORICAL: CategoricalReference(frequencies=dict.fromkeys(COLOURS, 1 / 3)),
            },
            prediction=CategoricalReference(frequencies=dict.fromkeys(classes, 1 / len(classes))),
        ),
        target=spec.target,
        classes=classes,
    )


def classifier_version(version: int, data: bytes, card: ModelCard) -> ModelVersion:
    """The registry's metadata of a classifier version whose artifact is `data`."""
    return ModelVersion(
        model_name=card.model_name,
        version=version,
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
        created_at="2026-01-01T00:00:00Z",
        aliases=("champion",),
        card=card,
    )


@dataclass(frozen=True)
class BuiltClassifier:
    """A fitted pipeline, its ONNX bytes and the class of each probability column."""

    pipeline: Pipeline
    onnx: bytes
    classes: tuple[str, ...]

    def probabilities(self, rows: list[dict[str, Any]]) -> np.ndarray[Any, Any]:
        """scikit-learn's own probabilities for `rows`, columns in `classes` order."""
        frame = pd.DataFrame(rows)
        frame[list(NUMERIC)] = frame[list(NUMERIC)].astype(np.float32)
        return np.asarray(self.pipeline.predict_proba(frame))


@functools.cache
def built_classifier(classes: tuple[str, ...] = BINARY, seed: int = 0) -> BuiltClassifier:
    """One classifier per set of classes and seed, built once per test session."""
    pipeline = fit_classifier(classes, seed=seed)
    return BuiltClassifier(pipeline, classifier_onnx(pipeline), model_classes(pipeline))
