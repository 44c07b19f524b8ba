"""Reference statistics and prediction events built from the synthetic house-price data."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pytest

from contracts import PredictionMade, ReferenceStatistics
from mlbus.datagen import RecordGenerator
from services.monitor.accumulate import Baseline
from tests.unit.monitor.monitor_samples import (
    REFERENCE_SIZE,
    Records,
    build_reference,
    prediction_for,
)

MakeRecords = Callable[..., Records]
MakePredictions = Callable[..., list[PredictionMade]]


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
        return [prediction_for(r, model_version) for r in make_records(count, seed, drift)]

    return make
