"""A reference built from synthetic house-price records, and prediction events to match."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pytest

from contracts import PredictionMade, ReferenceStatistics
from mlbus.datagen import RecordGenerator
from services.monitor.accumulate import Baseline
from tests.unit.monitor.monitor_samples import REFERENCE_SIZE, build_reference, prediction_for


@pytest.fixture(scope="session")
def reference() -> ReferenceStatistics:
    return build_reference(list(RecordGenerator(seed=0).records(REFERENCE_SIZE)))


@pytest.fixture(scope="session")
def baseline(reference: ReferenceStatistics) -> Baseline:
    return Baseline(reference, REFERENCE_SIZE)


@pytest.fixture(scope="session")
def make_predictions() -> Callable[..., list[PredictionMade]]:
    def make(
        count: int, seed: int, drift: Mapping[str, float] | None = None
    ) -> list[PredictionMade]:
        generator = RecordGenerator(seed=seed, drift=drift, id_prefix=f"s{seed}")
        return [prediction_for(r) for r in generator.records(count)]

    return make
