"""Reference statistics and prediction events built from the synthetic house-price data.

Shared by the monitor's unit and service tests (imported as a module, not a conftest).
"""

from __future__ import annotations

from collections import Counter
from typing import Any
from uuid import uuid4

import numpy as np

from contracts import (
    HOUSE_PRICES,
    CategoricalFeature,
    CategoricalReference,
    ColumnReference,
    NumericReference,
    PredictionMade,
    ReferenceStatistics,
)

REFERENCE_SIZE = 5000

Records = list[dict[str, Any]]


def numeric_reference(values: list[float], bins: int = 10) -> NumericReference:
    edges = np.quantile(np.asarray(values, dtype=float), np.linspace(0, 1, bins + 1))
    counts, _ = np.histogram(values, bins=edges)
    return NumericReference(
        bin_edges=tuple(float(e) for e in edges),
        fractions=tuple(float(c) for c in counts / len(values)),
    )


def categorical_reference(values: list[str]) -> CategoricalReference:
    counts = Counter(values)
    return CategoricalReference(frequencies={k: n / len(values) for k, n in counts.items()})


def build_reference(records: Records) -> ReferenceStatistics:
    features: dict[str, ColumnReference] = {}
    for feature in HOUSE_PRICES.features:
        values = [r[feature.name] for r in records]
        if isinstance(feature, CategoricalFeature):
            features[feature.name] = categorical_reference(values)
        else:
            features[feature.name] = numeric_reference(values)
    # The price stands in for a model's predictions on the training data.
    prediction = numeric_reference([r["price"] for r in records])
    return ReferenceStatistics(features=features, prediction=prediction)


def prediction_for(record: dict[str, Any], model_version: int = 1) -> PredictionMade:
    """The event a predictor would publish for `record`, predicting its true price."""
    return PredictionMade(
        record_id=record["record_id"],
        request_event_id=uuid4(),
        model_name="house-prices",
        model_version=model_version,
        prediction=record["price"],
        features={k: v for k, v in record.items() if k not in ("record_id", "price")},
    )
