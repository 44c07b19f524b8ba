"""Classification targets: what a spec may declare, and how ingest reads a label."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from contracts import (
    ClassificationTarget,
    DatasetSpec,
    NumericFeature,
    RecordIngested,
    RegressionTarget,
)
from contracts.normalise import Invalid, normalise_fields, target_class

CHURN = ClassificationTarget(name="churn", classes=("no", "yes"), aliases={"y": "yes", "n": "no"})
DIGITS = ClassificationTarget(name="digit", classes=("0", "1", "2"))


def _spec(target: ClassificationTarget | RegressionTarget) -> DatasetSpec:
    return DatasetSpec(name="d", target=target, features=(NumericFeature(name="x"),))


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"classes": ("a", "b", "a")}, "classes named twice"),
        ({"classes": ("a", "b"), "aliases": {"x": "c"}}, r"unknown classes \['c'\]"),
        ({"classes": ("a", "b"), "positive_class": "c"}, "positive_class 'c' is not one"),
        ({"classes": ("a", "b", "c"), "positive_class": "a"}, "binary targets only"),
        ({"classes": ("a", "b", "c"), "metric": "roc_auc"}, "binary targets only"),
        ({"classes": ("a",)}, "at least 2 items"),
        ({"classes": ("a", "b"), "threshold": 1.0}, "less than 1"),
        ({"classes": ("a", "b"), "threshold": 0}, "greater than 0"),
        ({"classes": ("a", "b"), "metric": "rmse"}, "log_loss"),
    ],
)
def test_a_classification_target_refuses_what_cannot_work(
    fields: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ValidationError, match=problem):
        ClassificationTarget(name="t", **fields)


def test_a_binary_target_defaults_to_its_last_class_at_one_half_by_log_loss() -> None:
    assert (CHURN.is_binary, CHURN.positive, CHURN.threshold, CHURN.metric) == (
        True,
        "yes",
        0.5,
        "log_loss",
    )
    chosen = ClassificationTarget(name="t", classes=("pos", "neg"), positive_class="pos")
    assert chosen.positive == "pos"
    assert not DIGITS.is_binary
    assert ClassificationTarget(name="t", classes=("a", "b"), metric="roc_auc").metric == "roc_auc"


def test_a_yaml_spec_without_task_has_a_regression_target() -> None:
    old = yaml.safe_load(
        "name: d\ntarget:\n  name: price\n  min: 0\nfeatures:\n- type: numeric\n  name: x\n"
    )
    spec = DatasetSpec.model_validate(old)
    assert spec.target == RegressionTarget(name="price", min=0)
    assert spec.classification is None


def test_a_yaml_spec_with_task_classification_has_its_classes_and_round_trips() -> None:
    text = """
name: churn
target:
  task: classification
  name: churn
  classes: ["no", "yes"]
  aliases: {"y": "yes", "n": "no"}
  threshold: 0.3
features:
- {type: numeric, name: x}
"""
    spec = DatasetSpec.model_validate(yaml.safe_load(text))
    assert spec.classification == ClassificationTarget(
        name="churn", classes=("no", "yes"), aliases={"y": "yes", "n": "no"}, threshold=0.3
    )
    assert DatasetSpec.model_validate_json(spec.model_dump_json()) == spec


def test_an_unknown_task_and_class_fields_on_a_regression_target_are_refused() -> None:
    with pytest.raises(ValidationError, match="ranking"):
        DatasetSpec.model_validate(
            {"name": "d", "target": {"task": "ranking", "name": "y"}, "features": []}
        )
    with pytest.raises(ValidationError, match="classes"):
        DatasetSpec.model_validate({"name": "d", "target": {"name": "y", "classes": ["a", "b"]}})


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("yes", "yes"),
        (" Yes ", "yes"),
        ("NO", "no"),
        ("y", "yes"),  # an alias
        (" N ", "no"),  # an alias, normalised
    ],
)
def test_a_text_label_normalises_like_a_category(label: str, expected: str) -> None:
    assert target_class(CHURN, label) == expected


@pytest.mark.parametrize(
    ("label", "expected"),
    [(1, "1"), (1.0, "1"), ("1", "1"), (" 2 ", "2"), ("1.0", "1"), ("+2.00", "2"), ("-0", "0")],
)
def test_a_whole_number_label_is_its_integer_text(label: object, expected: str) -> None:
    assert target_class(DIGITS, label) == expected


def test_a_boolean_label_reads_as_true_or_false() -> None:
    flags = ClassificationTarget(name="t", classes=("false", "true"))
    assert (target_class(flags, True), target_class(flags, False)) == ("true", "false")
    # JSON true meets a yes/no target through the usual alias.
    assert target_class(_with_alias(CHURN, "true", "yes"), True) == "yes"
    with pytest.raises(Invalid) as refused:
        target_class(DIGITS, True)  # a boolean is not the integer 1
    assert refused.value.rule == "class"


def _with_alias(target: ClassificationTarget, alias: str, name: str) -> ClassificationTarget:
    return target.model_copy(update={"aliases": {**target.aliases, alias: name}})


@pytest.mark.parametrize(
    ("label", "rule"),
    [("maybe", "class"), (3, "class"), (1.5, "type"), (["yes"], "type"), ({"a": 1}, "type")],
)
def test_an_unknown_or_mistyped_label_is_refused(label: object, rule: str) -> None:
    with pytest.raises(Invalid) as refused:
        target_class(CHURN if isinstance(label, str) else DIGITS, label)
    assert refused.value.rule == rule


def test_normalise_fields_gives_the_class_name_or_the_reason() -> None:
    spec = _spec(CHURN)
    labelled = normalise_fields({"x": 1, "churn": " Y "}, spec)
    assert (labelled.target, labelled.reasons) == ("yes", ())
    assert normalise_fields({"x": 1}, spec).target is None  # unlabelled
    assert normalise_fields({"x": 1, "churn": None}, spec).target is None
    refused = normalise_fields({"x": 1, "churn": "perhaps"}, spec)
    [reason] = refused.reasons
    assert (refused.target, reason.field, reason.rule) == (None, "churn", "class")
    assert "unknown class 'perhaps'; allowed: no, yes" in reason.message


def test_a_record_event_keeps_a_class_name_a_string_and_a_number_a_number() -> None:
    for target in ("1", 1.0, "yes", None):
        event = RecordIngested(record_id="r", dataset="d", features={}, target=target)
        again = RecordIngested.model_validate_json(event.model_dump_json())
        assert again.target == target
        assert type(again.target) is type(target)
