"""Reference statistics: the monitor's baseline of features and predictions."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from contracts import (
    HOUSE_PRICES,
    BooleanFeature,
    CategoricalReference,
    DatasetSpec,
    NumericFeature,
    NumericReference,
    ReferenceStatistics,
    RegressionTarget,
)
from services.trainer.reference import (
    DISCRETE_MAX_VALUES,
    numeric_reference,
    quantile_reference,
    reference_statistics,
)
from services.trainer.snapshot import model_frame, take_snapshot
from tests.unit.trainer.trainer_samples import labelled_records


@pytest.fixture(scope="module")
def reference() -> ReferenceStatistics:
    frame = take_snapshot(labelled_records(2000, seed=4), HOUSE_PRICES).frame
    predictions = frame["price"].to_numpy() * 1.01  # any numbers stand in for predictions
    return reference_statistics(frame, HOUSE_PRICES, predictions)


def assert_quantile_bins(column: NumericReference, values: np.ndarray) -> None:
    edges, fractions = column.bin_edges, column.fractions
    assert 2 <= len(edges) <= 11
    assert len(fractions) == len(edges) - 1
    assert all(a < b for a, b in itertools.pairwise(edges))
    assert all(math.isfinite(e) for e in edges)
    assert edges[0] == pytest.approx(values.min())
    assert edges[-1] == pytest.approx(values.max())
    assert sum(fractions) == pytest.approx(1.0)


def test_every_feature_and_the_prediction_have_a_reference(
    reference: ReferenceStatistics,
) -> None:
    assert list(reference.features) == HOUSE_PRICES.feature_names
    numeric = ["area", "bedrooms", "bathrooms", "stories", "parking"]
    assert all(isinstance(reference.features[n], NumericReference) for n in numeric)
    categorical = set(HOUSE_PRICES.feature_names) - set(numeric)
    assert all(isinstance(reference.features[n], CategoricalReference) for n in categorical)


def test_numeric_features_get_ten_quantile_bins_from_min_to_max(
    reference: ReferenceStatistics,
) -> None:
    frame = take_snapshot(labelled_records(2000, seed=4), HOUSE_PRICES).frame
    area = reference.features["area"]
    assert isinstance(area, NumericReference)
    assert_quantile_bins(area, frame["area"].to_numpy())
    assert len(area.bin_edges) == 11  # a continuous column keeps all ten bins
    assert all(f == pytest.approx(0.1, abs=0.01) for f in area.fractions)
    # Edges are written as the data spells them, not as float32 artefacts.
    assert all(len(repr(e)) <= 9 for e in area.bin_edges)
    assert area.binning == "quantile"
    assert area.missing_fraction == 0.0


def test_columns_of_few_values_get_one_bin_per_value(reference: ReferenceStatistics) -> None:
    frame = take_snapshot(labelled_records(2000, seed=4), HOUSE_PRICES).frame
    parking = reference.features["parking"]
    assert isinstance(parking, NumericReference)
    values, counts = np.unique(frame["parking"].to_numpy(), return_counts=True)
    assert parking.binning == "discrete"
    # Edges halfway between values, half a gap beyond the extremes: each value in its bin.
    assert parking.bin_edges == tuple(float(v) for v in np.append(values - 0.5, values[-1] + 0.5))
    assert parking.fractions == pytest.approx(counts / counts.sum())
    assert len(values) <= DISCRETE_MAX_VALUES


def test_discrete_edges_sit_halfway_between_uneven_values() -> None:
    column = numeric_reference(np.array([1.0, 2.0, 2.0, 5.0]))
    assert column is not None
    assert column.binning == "discrete"
    assert column.bin_edges == (0.5, 1.5, 3.5, 6.5)
    assert column.fractions == (0.25, 0.5, 0.25)
    many = numeric_reference(np.arange(DISCRETE_MAX_VALUES + 1, dtype=float))
    assert many is not None
    assert many.binning == "quantile"


def test_the_reference_counts_its_training_rows(reference: ReferenceStatistics) -> None:
    assert reference.size == len(take_snapshot(labelled_records(2000, seed=4), HOUSE_PRICES).frame)


def test_prediction_reference_bins_the_predictions(reference: ReferenceStatistics) -> None:
    frame = take_snapshot(labelled_records(2000, seed=4), HOUSE_PRICES).frame
    assert isinstance(reference.prediction, NumericReference)
    assert_quantile_bins(reference.prediction, frame["price"].to_numpy() * 1.01)


def test_categorical_frequencies_cover_the_spec_categories(
    reference: ReferenceStatistics,
) -> None:
    furnishing = reference.features["furnishingstatus"]
    assert isinstance(furnishing, CategoricalReference)
    assert set(furnishing.frequencies) == {"furnished", "semi-furnished", "unfurnished"}
    assert sum(furnishing.frequencies.values()) == pytest.approx(1.0)
    hot_water = reference.features["hotwaterheating"]
    assert isinstance(hot_water, CategoricalReference)
    assert hot_water.frequencies["yes"] < 0.15  # the generator's rate is 5 %


def test_booleans_are_categories_and_missing_values_are_left_out() -> None:
    spec = DatasetSpec(
        name="flags",
        target=RegressionTarget(name="y"),
        features=(
            BooleanFeature(name="flag", nullable=True),
            NumericFeature(name="x", nullable=True),
        ),
    )
    rows: list[dict[str, object]] = [
        {"flag": True, "x": 1.0},
        {"flag": False, "x": None},
        {"flag": None, "x": 3.0},
    ]
    stats = reference_statistics(model_frame(rows, spec), spec, [1.0, 2.0, 3.0])
    flag = stats.features["flag"]
    assert isinstance(flag, CategoricalReference)
    assert flag.frequencies == {"false": 0.5, "true": 0.5}
    assert flag.missing_fraction == pytest.approx(1 / 3)
    x = stats.features["x"]
    assert isinstance(x, NumericReference)
    assert x.bin_edges == (0.0, 2.0, 4.0)
    assert x.fractions == (0.5, 0.5)
    assert x.missing_fraction == pytest.approx(1 / 3)
    assert stats.size == 3


def test_a_constant_column_gets_one_bin_around_its_value() -> None:
    column = numeric_reference(np.full(50, 4.0))
    assert column is not None
    assert column.bin_edges == (3.5, 4.5)
    assert column.fractions == (1.0,)
    quantile = quantile_reference(np.full(50, 4.0))
    assert quantile.bin_edges == (3.5, 4.5)
    assert quantile.fractions == (1.0,)
    assert numeric_reference(np.array([np.nan])) is None


def test_reference_is_plain_json() -> None:
    """No infinities or NaN: the card travels as strict JSON."""
    frame = take_snapshot(labelled_records(300), HOUSE_PRICES).frame
    stats = reference_statistics(frame, HOUSE_PRICES, frame["price"].to_numpy())
    text = stats.model_dump_json()
    assert "inf" not in text.lower()
    assert "nan" not in text.lower()
    assert ReferenceStatistics.model_validate_json(text) == stats
