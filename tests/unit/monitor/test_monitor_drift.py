"""PSI against reference statistics built with numpy quantiles from synthetic records."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest

from contracts import CategoricalReference, NumericReference, ReferenceStatistics
from services.monitor.stats import EPSILON, psi
from tests.support.drift_oracle import categorical_psi, column_psi, numeric_psi, window_psi

NUMERIC = ["area", "bedrooms", "bathrooms", "stories", "parking"]
CATEGORICAL = ["mainroad", "guestroom", "basement", "airconditioning", "furnishingstatus"]


MakeRecords = Callable[..., list[dict[str, Any]]]


def _column(records: list[dict[str, Any]], name: str) -> list[Any]:
    return [r[name] for r in records]


@pytest.mark.parametrize("name", NUMERIC)
def test_numeric_psi_is_near_zero_for_the_reference_distribution(
    name: str, reference: ReferenceStatistics, make_records: MakeRecords
) -> None:
    column = reference.features[name]
    assert isinstance(column, NumericReference)
    sample = [float(v) for v in _column(make_records(2000, seed=7), name)]
    value = numeric_psi(sample, column)
    assert value is not None
    assert 0 <= value < 0.05


def test_numeric_psi_is_large_for_a_shifted_sample(
    reference: ReferenceStatistics, make_records: MakeRecords
) -> None:
    column = reference.features["area"]
    assert isinstance(column, NumericReference)
    sample = [r["area"] for r in make_records(2000, seed=7, drift={"area": 0.3})]
    value = numeric_psi(sample, column)
    assert value is not None
    assert value > 0.2


@pytest.mark.parametrize("name", CATEGORICAL)
def test_categorical_psi_is_near_zero_for_the_reference_distribution(
    name: str, reference: ReferenceStatistics, make_records: MakeRecords
) -> None:
    column = reference.features[name]
    assert isinstance(column, CategoricalReference)
    value = categorical_psi(_column(make_records(2000, seed=7), name), column)
    assert value is not None
    assert 0 <= value < 0.05


def test_categorical_psi_is_large_for_a_shifted_sample(
    reference: ReferenceStatistics, make_records: MakeRecords
) -> None:
    column = reference.features["furnishingstatus"]
    assert isinstance(column, CategoricalReference)
    shifted = make_records(2000, seed=7, drift={"furnishingstatus": 0.6})
    value = categorical_psi([r["furnishingstatus"] for r in shifted], column)
    assert value is not None
    assert value > 0.2


def test_values_outside_the_edges_count_in_the_first_and_last_bins() -> None:
    reference = NumericReference(bin_edges=(0.0, 1.0, 2.0), fractions=(0.5, 0.5))
    assert numeric_psi([-100.0, 100.0], reference) == pytest.approx(0.0)
    # Everything below the first edge: all of it in the first bin, the last bin empty.
    expected = (1 - 0.5) * math.log(1 / 0.5) + (EPSILON - 0.5) * math.log(EPSILON / 0.5)
    assert numeric_psi([-3.0, -2.0], reference) == pytest.approx(expected)


def test_bins_are_half_open_with_a_closed_last_bin() -> None:
    reference = NumericReference(bin_edges=(0.0, 1.0, 2.0), fractions=(0.5, 0.5))
    # 1.0 belongs to [1, 2], 2.0 (the last edge) too: all in the second bin.
    expected = (EPSILON - 0.5) * math.log(EPSILON / 0.5) + (1 - 0.5) * math.log(1 / 0.5)
    assert numeric_psi([1.0, 2.0], reference) == pytest.approx(expected)


def test_unseen_categories_count_in_their_own_bucket() -> None:
    reference = CategoricalReference(frequencies={"yes": 0.5, "no": 0.5})
    value = categorical_psi(["yes", "no", "maybe", "perhaps"], reference)
    # yes and no: 0.25 each against 0.5; unseen: 0.5 against epsilon.
    expected = 2 * (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.5 - EPSILON) * math.log(0.5 / EPSILON)
    assert value == pytest.approx(expected)


def test_psi_is_zero_for_identical_bins_and_symmetric_in_its_terms() -> None:
    assert psi([0.2, 0.3, 0.5], [0.2, 0.3, 0.5]) == 0.0
    assert psi([0.2, 0.8], [0.8, 0.2]) == pytest.approx(psi([0.8, 0.2], [0.2, 0.8]))
    with pytest.raises(ValueError, match="bins"):
        psi([0.5, 0.5], [1.0])


def test_missing_values_are_left_out_and_an_empty_sample_has_no_psi() -> None:
    numeric = NumericReference(bin_edges=(0.0, 1.0, 2.0), fractions=(0.5, 0.5))
    assert column_psi([0.5, None, 1.5, None], numeric) == pytest.approx(0.0)
    assert column_psi([None, None], numeric) is None
    assert categorical_psi([], CategoricalReference(frequencies={"a": 1.0})) is None


def test_booleans_match_json_spelled_categories() -> None:
    reference = CategoricalReference(frequencies={"true": 0.5, "false": 0.5})
    assert column_psi([True, False], reference) == pytest.approx(0.0)


def test_edges_must_bound_the_fractions() -> None:
    reference = NumericReference(bin_edges=(0.0, 1.0), fractions=(0.5, 0.5))
    with pytest.raises(ValueError, match="bin edges"):
        numeric_psi([0.5], reference)


def test_window_psi_reports_every_feature_and_flags_only_the_shifted_one(
    reference: ReferenceStatistics, make_records: MakeRecords
) -> None:
    rows = make_records(2000, seed=3, drift={"area": 0.3})
    result = window_psi(rows, reference)
    assert set(result) == set(reference.features)
    assert result["area"] > 0.2
    assert max(v for k, v in result.items() if k != "area") < 0.05
