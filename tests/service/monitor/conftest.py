"""A reference built from synthetic house-price records, and prediction events to match."""

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


def _numeric(values: list[float], bins: int = 10) -> NumericReference:
    edges = np.quantile(np.asarray(values, dtype=float), np.linspace(0, 1, bins + 1))
    counts, _ = np.histogram(values, bins=edges)
    return NumericReference(
        bin_edges=tuple(float(e) for e in edges),
        fractions=tuple(float(c) for c in counts / len(values)),
    )


def _categorical(values: list[str]) -> CategoricalReference:
    counts = Counter(values)
    return CategoricalReference(frequencies={k: n / len(values) for k, n in counts.items()})


@pytest.fixture(scope="session")
def reference() -> ReferenceStatistics:
    records = list(RecordGenerator(seed=0).records(5000))
    features: dict[str, ColumnReference] = {}
    for feature in HOUSE_PRICES.features:
        values = [r[feature.name] for r in records]
        is_categorical = isinstance(feature, CategoricalFeature)
        features[feature.name] = _categorical(values) if is_categorical else _numeric(values)
    return ReferenceStatistics(
        features=features, prediction=_numeric([r["price"] for r in records])
    )


@pytest.fixture(scope="session")
def baseline(reference: ReferenceStatistics) -> Baseline:
    return Baseline(reference, 5000)


@pytest.fixture(scope="session")
def make_predictions() -> Callable[..., list[PredictionMade]]:
    def make(
        count: int, seed: int, drift: Mapping[str, float] | None = None
    ) -> list[PredictionMade]:
        generator = RecordGenerator(seed=seed, drift=drift, id_prefix=f"s{seed}")
        return [_prediction(r) for r in generator.records(count)]

    return make


def _prediction(record: dict[str, Any]) -> PredictionMade:
    return PredictionMade(
        record_id=record["record_id"],
        request_event_id=uuid4(),
        model_name="house-prices",
        model_version=1,
        prediction=record["price"],
        features={k: v for k, v in record.items() if k not in ("record_id", "price")},
    )
