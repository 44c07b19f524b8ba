"""`mlbus spec infer` and `mlbus publish --check` on scikit-learn's iris and breast cancer,
written as CSV files with their class names or codes as the target."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from contracts import ClassificationTarget
from mlbus.cli import main
from services.common.specfile import load_spec
from tests.support.class_datasets import breast_cancer_csv, iris_csv

WriteCsv = Callable[..., Path]


def _infer(path: Path, target: str, capsys: pytest.CaptureFixture[str]) -> ClassificationTarget:
    spec_path = path.with_suffix(".yaml")
    assert main(["spec", "infer", str(path), "--target", target, "-o", str(spec_path)]) == 0
    capsys.readouterr()
    spec = load_spec(spec_path)
    assert spec.record_id_field == "record_id"
    assert isinstance(spec.target, ClassificationTarget)
    return spec.target


def _check(path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["publish", str(path), "--spec", str(path.with_suffix(".yaml")), "--check"]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize(
    ("write", "coded", "target", "classes", "positive"),
    [
        (iris_csv, False, "species", ("setosa", "versicolor", "virginica"), None),
        (iris_csv, True, "species", ("0", "1", "2"), None),
        (breast_cancer_csv, False, "diagnosis", ("benign", "malignant"), "malignant"),
        (breast_cancer_csv, True, "diagnosis", ("0", "1"), "1"),
    ],
)
def test_spec_infer_proposes_the_classes_and_publish_check_accepts_every_row(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    write: WriteCsv,
    coded: bool,
    target: str,
    classes: tuple[str, ...],
    positive: str | None,
) -> None:
    path = write(tmp_path / f"{target}.csv", coded=coded, unlabelled_every=5)
    drafted = _infer(path, target, capsys)
    assert (drafted.name, drafted.classes, drafted.positive_class) == (target, classes, positive)
    assert drafted.metric == "log_loss"
    rows = 150 if write is iris_csv else 569
    unlabelled = rows // 5
    assert (
        f"would accept {rows} (training {rows - unlabelled}, prediction {unlabelled}),"
        " would reject 0" in _check(path, capsys)
    )


def test_the_target_is_guessed_without_target_as_the_last_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = iris_csv(tmp_path / "iris.csv")
    assert main(["spec", "infer", str(path)]) == 0
    captured = capsys.readouterr()
    assert "note: target 'species': the last column that holds numbers or class labels" in (
        captured.err
    )
    assert "task: classification" in captured.out
