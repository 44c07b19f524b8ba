"""Reference statistics and prediction events built from the synthetic house-price data."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any
from uuid import uuid4

import numpy as np
import pytest

from contracts import (
    HOUSE_PRICES,
    CategoricalFeature,
    CategoricalReference,
    ColumnReference,
    NumericReference,
    PredictionMade,
    ReferenceStatistics,
)
from mlbus.datagen import RecordGenerator
from services.monitor.accumulate import Baseline

REFERENCE_SIZE = 5000

Records = list[dict[str, Any]]
MakeRecords = Callable[..., Records]
MakePredictions = Callable[..., list[PredictionMade]]


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


@pytest.fixture(scope="session")
def make_records() -> MakeRecords:
    def make(count: int, seed: int, drift: Mapping[str, float] | None = None) -> Records:
        return list(RecordGenerator(seed=seed, drift=drift).records(count))

    return make


@pytest.fixture(scope="session")
def reference(make_records: MakeRecords) -> ReferenceStatistics:
    return build_reference(make_records(REFERENCE_SIZE, seed=0))


@pytest.fixture(scope="session")
def baseline(reference: ReferenceStatistics) -> Baseline:
    return Baseline(reference, REFERENCE_SIZE)


@pytest.fixture(scope="session")
def make_predictions(make_records: MakeRecords) -> MakePredictions:
    def make(
        count: int,
        seed: int,
        drift: Mapping[str, float] | None = None,
        model_version: int = 1,
    ) -> list[PredictionMade]:
        return [
            PredictionMade(
                record_id=r["record_id"],
                request_event_id=uuid4(),
                model_name="house-prices",
                model_version=model_version,
                prediction=r["price"],
                features={k: v for k, v in r.items() if k not in ("record_id", "price")},
            )
            for r in make_records(count, seed, drift)
        ]

    return make
