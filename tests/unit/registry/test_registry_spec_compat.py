"""The compatibility rule between two versions of a data set's spec."""

from __future__ import annotations

from typing import Any

import pytest

from services.registry.spec_compat import incompatibilities
from tests.support.spec_samples import churn, rentals, with_feature

OLD = rentals()


@pytest.mark.parametrize(
    "feature",
    [
        {"name": "garden", "type": "boolean", "nullable": True},  # a new nullable feature
        {"name": "area", "type": "numeric", "min": 5, "max": 900},  # bounds widened
        {"name": "rooms", "type": "integer"},  # bounds dropped
        {"name": "district", "type": "categorical", "categories": ["north", "south", "east"]},
        {"name": "rooms", "type": "integer", "min": 1, "max": 10, "nullable": True},
    ],
)
def test_widening_changes_are_compatible(feature: dict[str, Any]) -> None:
    assert incompatibilities(OLD, with_feature(OLD, feature)) == []


@pytest.mark.parametrize(
    ("feature", "reason"),
    [
        ({"name": "garden", "type": "boolean"}, "new feature 'garden' must be nullable"),
        ({"name": "area", "type": "integer"}, "feature 'area' retyped from numeric to integer"),
        ({"name": "area", "type": "numeric", "min": 20, "max": 500}, "min raised from 10"),
        ({"name": "rooms", "type": "integer", "min": 1, "max": 8}, "max lowered from 10"),
        ({"name": "district", "type": "categorical", "categories": ["north"]}, "['south']"),
    ],
)
def test_narrowing_changes_are_refused_with_their_reason(
    feature: dict[str, Any], reason: str
) -> None:
    reasons = incompatibilities(OLD, with_feature(OLD, feature))
    assert len(reasons) == 1, reasons
    assert reason in reasons[0]


def test_every_reason_is_given_at_once() -> None:
    new = rentals(
        target={"name": "monthly_rent", "min": 0},
        features=[{"name": "area", "type": "numeric", "min": 10, "max": 500}],
    )
    assert incompatibilities(OLD, new) == [
        "target renamed from 'rent' to 'monthly_rent'",
        "feature 'rooms' removed",
        "feature 'district' removed",
    ]


def test_a_nullable_feature_may_not_become_required() -> None:
    nullable = with_feature(OLD, {"name": "rooms", "type": "integer", "nullable": True})
    required = with_feature(OLD, {"name": "rooms", "type": "integer"})
    assert incompatibilities(nullable, required) == ["feature 'rooms' no longer nullable"]


def test_classes_may_only_be_added_and_the_task_stays() -> None:
    assert incompatibilities(churn(), churn(("stay", "leave", "paused"))) == []
    assert incompatibilities(churn(("stay", "leave", "paused")), churn()) == [
        "target 'outcome': classes removed: ['paused']"
    ]
    as_regression = rentals(name="churn", target={"name": "outcome"})
    reasons = incompatibilities(churn(), as_regression)
    assert "target task changed from classification to regression" in reasons


def test_a_regression_target_keeps_its_bounds_or_widens_them() -> None:
    assert incompatibilities(OLD, rentals(target={"name": "rent"})) == []
    assert incompatibilities(OLD, rentals(target={"name": "rent", "min": 0, "max": 5000})) == [
        "target 'rent': max lowered from 10000.0 to 5000.0"
    ]
