"""`mlbus spec infer` proposes a classification target for text or few whole numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts import ClassificationTarget, RegressionTarget
from mlbus.cli import main
from mlbus.datafiles import file_identity, read_rows, with_record_ids
from mlbus.publishing import check_rows
from mlbus.spec_inference import draft_spec
from services.common.specfile import load_spec


def _csv(tmp_path: Path, header: str, rows: list[str], name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def _classes(path: Path, **options: object) -> ClassificationTarget:
    target = draft_spec(path, **options).spec.target  # type: ignore[arg-type]
    assert isinstance(target, ClassificationTarget), target
    return target


def test_a_text_target_is_a_classification_target_with_its_labels_normalised(
    tmp_path: Path,
) -> None:
    labels = ["Cat", " cat", "DOG", "dog", "bird", "Bird "]
    path = _csv(tmp_path, "x,animal", [f"{i},{label}" for i, label in enumerate(labels * 3)])
    draft = draft_spec(path, target="animal")
    target = draft.spec.target
    assert isinstance(target, ClassificationTarget)
    assert (target.classes, target.aliases, target.positive_class) == (
        ("bird", "cat", "dog"),
        {},
        None,
    )
    assert target.metric == "log_loss"
    assert any(
        "classification: text with 3 distinct values (at most 20)" in g for g in draft.guesses
    )


def test_few_whole_numbers_are_classes_sorted_by_number_with_other_spellings_as_aliases(
    tmp_path: Path,
) -> None:
    # 1.0 and +2 spell 1 and 2; empty cells are unlabelled rows.
    cells = ["10", "2", "1", "1.0", "+2", "", "10", "1", "2", "10"] * 2
    path = _csv(tmp_path, "x,grade", [f"{i},{c}" for i, c in enumerate(cells)])
    target = _classes(path)
    assert target.classes == ("1", "2", "10")
    assert target.aliases == {"+2": "2", "1.0": "1"}
    rows = with_record_ids(read_rows(path), "record_id", file_identity(path))
    checked = check_rows(rows, draft_spec(path).spec)
    assert (checked.labelled, checked.unlabelled, checked.rejected) == (18, 2, 0)


def test_pandas_whole_floats_with_missing_labels_are_integer_classes(tmp_path: Path) -> None:
    cells = ["0.0", "1.0", "", "0.0", "0.0"] * 4
    target = _classes(_csv(tmp_path, "x,y", [f"{i / 3},{c}" for i, c in enumerate(cells)]))
    assert (target.classes, target.aliases, target.positive) == (
        ("0", "1"),
        {"0.0": "0", "1.0": "1"},
        "1",
    )


@pytest.mark.parametrize(
    ("cells", "why"),
    [
        (["1.5", "2", "3"] * 10, "not whole"),
        ([str(i) for i in range(25)] * 2, "25 distinct values, more than 20 classes"),
        (["1", "2", "3", "1", "2", "3"], "fewer than 5 rows a value"),
    ],
)
def test_other_numbers_stay_a_regression_target(tmp_path: Path, cells: list[str], why: str) -> None:
    draft = draft_spec(_csv(tmp_path, "x,y", [f"{i},{c}" for i, c in enumerate(cells)]))
    assert isinstance(draft.spec.target, RegressionTarget)
    assert any(g.startswith("target 'y': regression") and why in g for g in draft.guesses)


@pytest.mark.parametrize(
    ("labels", "positive", "why"),
    [
        (["no", "yes", "no"], "yes", "called 'yes'"),
        (["0", "1", "1"], "1", "called '1'"),
        (["False", "TRUE", "true"], "true", "called 'true'"),
        (["benign", "malignant", "benign"], "malignant", "the minority class (5 of 15"),
        (["ham", "spam", "spam"], "ham", "the minority class (5 of 15"),
        (["a", "b"], "b", "the minority class (5 of 10"),  # a tie: the last class
    ],
)
def test_a_binary_target_names_its_positive_class_and_says_why(
    tmp_path: Path, labels: list[str], positive: str, why: str
) -> None:
    path = _csv(tmp_path, "x,label", [f"{i},{v}" for i, v in enumerate(labels * 5)])
    draft = draft_spec(path)
    target = draft.spec.target
    assert isinstance(target, ClassificationTarget)
    assert (target.positive_class, target.positive) == (positive, positive)
    assert any(g.startswith(f"positive class {positive!r}: {why}") for g in draft.guesses)


def test_text_targets_that_cannot_be_classes_are_refused_with_the_reason(tmp_path: Path) -> None:
    names = _csv(tmp_path, "x,name", [f"{i},person {i}" for i in range(30)])
    with pytest.raises(
        ValueError,
        match=r"'name' holds text, so it is a classification target, but .*30 distinct values",
    ):
        draft_spec(names, target="name")
    assert _classes(names, target="name", max_classes=30).classes[0] == "person 0"
    same = _csv(tmp_path, "x,kind", ["1,a", "2,A "], name="same.csv")
    with pytest.raises(ValueError, match="single value \\('a'\\)"):
        draft_spec(same, target="kind")


def test_task_forces_the_target_and_limits_the_guess(tmp_path: Path) -> None:
    path = _csv(tmp_path, "score,y", [f"{i / 7},{i % 3}" for i in range(9)])
    assert isinstance(draft_spec(path).spec.target, RegressionTarget)  # 3 rows a value
    assert _classes(path, task="classification").classes == ("0", "1", "2")
    coded = _csv(tmp_path, "x,y", [f"{i},{i % 2}" for i in range(20)], name="coded.csv")
    assert isinstance(_classes(coded), ClassificationTarget)
    assert isinstance(draft_spec(coded, task="regression").spec.target, RegressionTarget)
    with pytest.raises(
        ValueError, match=r"'score' is, as --task says, a classification target, but .*not whole"
    ):
        draft_spec(path, target="score", task="classification")


def test_the_guess_takes_a_text_target_named_label_or_the_last_one(tmp_path: Path) -> None:
    rows = [f"{i},{i % 4},{'ab'[i % 2]}" for i in range(20)]
    assert _classes(_csv(tmp_path, "x,y,label", rows)).name == "label"  # label before y
    draft = draft_spec(_csv(tmp_path, "x,n,kind", rows, name="last.csv"))
    assert draft.spec.target.name == "kind"
    assert draft.guesses[0].startswith("target 'kind': the last column that holds numbers or")
    free_text = [f"{i},word{i}" for i in range(20)]
    assert draft_spec(_csv(tmp_path, "x,t", free_text, name="free.csv")).spec.target.name == "x"


def test_spec_infer_and_publish_check_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [f"r{i},{i / 10},{['Yes', 'no', ' NO '][i % 3]}" for i in range(30)]
    path = _csv(tmp_path, "record_id,x,churn", rows)
    spec_path = tmp_path / "spec.yaml"
    assert main(["spec", "infer", str(path), "--target", "churn", "-o", str(spec_path)]) == 0
    assert "note: positive class 'yes': called 'yes'" in capsys.readouterr().err
    assert load_spec(spec_path).target == ClassificationTarget(
        name="churn", classes=("no", "yes"), positive_class="yes"
    )
    assert main(["publish", str(path), "--spec", str(spec_path), "--check"]) == 0
    assert "would accept 30 (training 30, prediction 0)" in capsys.readouterr().out
    more = _csv(tmp_path, "record_id,x,churn", ["s1,1,YES", "s2,2,", "s3,3,perhaps"], "more.csv")
    assert main(["publish", str(more), "--spec", str(spec_path), "--check"]) == 1
    checked = capsys.readouterr().out
    assert "would accept 2 (training 1, prediction 1), would reject 1" in checked
    assert "row 3: churn: unknown class 'perhaps'; allowed: no, yes" in checked
    assert main(["spec", "infer", str(path), "--target", "churn", "--task", "regression"]) == 1
    assert "holds values that are not numbers" in capsys.readouterr().err
