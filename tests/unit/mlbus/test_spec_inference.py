"""`mlbus spec infer`: which column is the target, which the record id, and what is guessed."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts import BooleanFeature, CategoricalFeature, NumericFeature, RegressionTarget
from mlbus.cli import main
from mlbus.spec_inference import draft_spec
from services.common.specfile import load_spec
from services.ingest.validation import ValidRecord, validate_record


def _csv(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("header", "target"),
    [
        ("a,y,price,label,target", "target"),
        ("a,y,price,label", "label"),
        ("a,y,price", "price"),  # price before y, as the help says
        ("y,a,price", "price"),
        ("a,y", "y"),
        ("a,Price,b", "Price"),  # any case
        ("a,b", "b"),  # no name fits: the last numeric column
    ],
)
def test_the_target_is_the_first_of_the_documented_names(
    tmp_path: Path, header: str, target: str
) -> None:
    rows = "\n".join(",".join(str(i + j) for j in range(header.count(",") + 1)) for i in range(3))
    draft = draft_spec(_csv(tmp_path, f"{header}\n{rows}\n"))
    assert draft.spec.target.name == target
    assert draft.guesses[0].startswith(f"target {target!r}")


def test_a_named_target_wins_and_a_regression_target_must_hold_numbers(tmp_path: Path) -> None:
    path = _csv(tmp_path, "a,colour,price,y\n1,red,3,4\n2,blue,5,6\n")
    assert draft_spec(path, target="a").spec.target.name == "a"
    with pytest.raises(ValueError, match="'colour' holds values that are not numbers"):
        draft_spec(path, target="colour", task="regression")
    with pytest.raises(ValueError, match="no column 'nope'"):
        draft_spec(path, target="nope")


def test_a_non_numeric_column_named_price_is_not_the_target(tmp_path: Path) -> None:
    path = _csv(tmp_path, "price,y\ncheap,1\ndear,2\n")
    assert draft_spec(path).spec.target.name == "y"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("PassengerId", "PassengerId"),
        ("customer_id", "customer_id"),
        ("ID", "ID"),
        ("uuid", "uuid"),
        ("record_id", "record_id"),
    ],
)
def test_columns_named_like_ids_with_distinct_values_become_the_record_id(
    tmp_path: Path, header: str, expected: str
) -> None:
    path = _csv(tmp_path, f"{header},size,price\nk1,1,10\nk2,2,20\nk3,3,30\n")
    draft = draft_spec(path)
    assert draft.spec.record_id_field == expected
    assert draft.spec.feature_names == ["size"]
    assert any("named like an identifier" in g for g in draft.guesses)


def test_an_id_named_column_with_repeated_values_stays_a_feature(tmp_path: Path) -> None:
    path = _csv(tmp_path, "store_id,size,price\ns1,1,10\ns1,2,20\ns2,3,30\n")
    draft = draft_spec(path)
    assert draft.spec.record_id_field == "record_id"
    assert "store_id" in draft.spec.feature_names
    assert any("derives one from the file and row" in g for g in draft.guesses)


def test_record_id_prefers_record_id_then_id(tmp_path: Path) -> None:
    path = _csv(tmp_path, "other_id,id,size,price\na,1,1,10\nb,2,2,20\n")
    assert draft_spec(path).spec.record_id_field == "id"


def test_a_text_column_of_distinct_values_is_the_record_id(tmp_path: Path) -> None:
    names = "\n".join(f"car {i},{i},{i * 10}" for i in range(40))
    draft = draft_spec(_csv(tmp_path, f"model,size,price\n{names}\n"))
    assert draft.spec.record_id_field == "model"
    assert draft.spec.feature_names == ["size"]


def test_boolean_like_text_columns_get_the_usual_spellings(tmp_path: Path) -> None:
    path = _csv(
        tmp_path,
        "smoker,member,active,price\nYes,y,TRUE,1\nno,N,false,2\nYES,,True,3\n",
    )
    spec = draft_spec(path).spec
    smoker, member, active = spec.features
    assert isinstance(smoker, CategoricalFeature)
    assert smoker.categories == ("no", "yes")
    assert smoker.aliases == {"y": "yes", "true": "yes", "1": "yes", "n": "no", "false": "no",
                              "0": "no"}  # fmt: skip
    assert isinstance(member, CategoricalFeature)
    assert member.categories == ("no", "yes")
    assert (member.nullable, member.impute) == (True, "yes")
    assert isinstance(active, BooleanFeature)
    # Every spelling of the file, and the others people use, pass ingest's normaliser.
    for smoke, flag in [(" YES ", "y"), ("true", "n"), (True, "1"), ("0", "no")]:
        record = {"smoker": smoke, "member": flag, "active": "yes", "price": 1}
        assert isinstance(validate_record(record, spec), ValidRecord), record


def test_numbers_that_may_be_negative_have_no_lower_bound(tmp_path: Path) -> None:
    spec = draft_spec(_csv(tmp_path, "a,target\n-0.5,1\n0.25,-2\n")).spec
    [a] = spec.features
    assert isinstance(a, NumericFeature)
    assert a.min is None
    assert isinstance(spec.target, RegressionTarget)
    assert spec.target.min is None


def test_the_draft_ends_with_what_was_guessed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _csv(tmp_path, "Id,flag,note,y,price\n1,yes,a,1,10\n2,no,b,2,20\n3,no,c,3,30\n")
    output = tmp_path / "spec.yaml"
    assert main(["spec", "infer", str(path), "--max-categories", "2", "-o", str(output)]) == 0
    text = output.read_text()
    spec = load_spec(output)  # the comment does not stop it loading
    assert (spec.target.name, spec.record_id_field) == ("price", "Id")
    comment = text[text.index("# What `mlbus spec infer` guessed") :].splitlines()
    assert all(line.startswith("#") for line in comment)
    assert any("target 'price'" in line for line in comment)
    assert any("record id 'Id'" in line for line in comment)
    assert any("'flag': yes/no" in line for line in comment)
    assert any("column 'note' skipped" in line for line in comment)
    assert "note: target 'price'" in capsys.readouterr().err
