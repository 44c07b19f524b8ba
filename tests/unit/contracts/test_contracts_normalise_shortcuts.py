"""normalise_fields takes shortcuts for plain values; they must give what normalise_value gives."""

from __future__ import annotations

import math

import pytest

from contracts import (
    BooleanFeature,
    CategoricalFeature,
    DatasetSpec,
    Feature,
    IntegerFeature,
    NumericFeature,
    RegressionTarget,
    RejectionReason,
)
from contracts.normalise import Invalid, normalise_fields, normalise_value

FEATURES: list[Feature] = [
    NumericFeature(name="free"),
    NumericFeature(name="bounded", min=0, max=10),
    NumericFeature(name="infinite_max", min=0, max=math.inf),
    IntegerFeature(name="count", min=0, max=20),
    IntegerFeature(name="any_int"),
    CategoricalFeature(name="colour", categories=("red", "blue"), aliases={"rouge": "red"}),
    BooleanFeature(name="flag"),
]
VALUES: list[object] = [
    0,
    1,
    -1,
    10,
    11,
    2.5,
    -0.0,
    10.0,
    10.000001,
    1e308,
    -1e308,
    math.inf,
    -math.inf,
    math.nan,
    2**53 - 1,
    2**53,
    2**63,
    -(2**80),
    10**400,
    True,
    False,
    "3",
    " 4 ",
    "nan",
    "x",
    "red",
    "Red",
    " blue ",
    "rouge",
    "ROUGE",
    "yes",
    "0",
    [],
    {},
]


def outcome(feature: Feature, value: object) -> tuple[str, object]:
    """What normalise_value makes of `value` (the rules), as a comparable pair."""
    try:
        normalised = normalise_value(feature, value)
    except Invalid as exc:  # as the reason carries it (long messages are cut)
        reason = RejectionReason(field=feature.name, rule=exc.rule, message=exc.message)
        return ("invalid", (reason.rule, reason.message))
    return ("value", (type(normalised), repr(normalised)))


@pytest.mark.parametrize("feature", FEATURES, ids=lambda f: f.name)
def test_every_value_normalises_as_the_rules_say(feature: Feature) -> None:
    spec = DatasetSpec(name="shortcuts", target=RegressionTarget(name="y"), features=(feature,))
    for value in VALUES:
        fields = normalise_fields({feature.name: value}, spec)
        if fields.reasons:
            [reason] = fields.reasons
            got: tuple[str, object] = ("invalid", (reason.rule, reason.message))
        else:
            normalised = fields.features[feature.name]
            got = ("value", (type(normalised), repr(normalised)))
        assert got == outcome(feature, value), (feature.name, value)
