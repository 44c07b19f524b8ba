"""`mlbus spec infer` then `mlbus publish` of a classification CSV against the running ingest:
iris with its species names, breast cancer with sklearn's 0/1 codes; a tenth of the rows
without a label, and, added after the spec was drafted, one row with a class it does not know."""

from __future__ import annotations

import asyncio
import csv
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from contracts import ClassificationTarget
from mlbus.brokers import Broker
from mlbus.bus import read_topic
from services.common.specfile import load_spec
from tests.e2e.ingest_support import running_ingest
from tests.support.class_datasets import breast_cancer_csv, iris_csv

pytestmark = pytest.mark.e2e


def _mlbus(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "mlbus", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def _add_row(path: Path, label: str) -> None:
    """One more row: the first row's features under a new id and `label`."""
    with path.open(newline="") as handle:
        header, first = list(csv.reader(handle))[:2]
    with path.open("a", newline="") as handle:
        csv.writer(handle).writerow(["extra-1", *first[1:-1], label])
    assert header[0] == "record_id"


@pytest.mark.parametrize(
    ("write", "coded", "target", "rows", "classes"),
    [
        (iris_csv, False, "species", 150, {"setosa", "versicolor", "virginica"}),
        (breast_cancer_csv, True, "diagnosis", 569, {"0", "1"}),
    ],
)
def test_publish_routes_labelled_rows_as_classes_and_dead_letters_an_unknown_one(
    broker: Broker,
    tmp_path: Path,
    write: Callable[..., Path],
    coded: bool,
    target: str,
    rows: int,
    classes: set[str],
) -> None:
    path = write(tmp_path / f"{target}.csv", coded=coded, unlabelled_every=10)
    spec_path = tmp_path / "spec.yaml"
    inferred = _mlbus("spec", "infer", str(path), "--target", target, "-o", str(spec_path))
    assert inferred.returncode == 0, inferred.stderr
    spec_target = load_spec(spec_path).target
    assert isinstance(spec_target, ClassificationTarget)
    assert set(spec_target.classes) == classes
    _add_row(path, "7" if coded else "rose")  # a class the spec does not know
    with running_ingest(broker.bootstrap_servers, tmp_path / "ingest", spec_path) as (_, topics):
        prefix = topics.raw.removesuffix("ingest.raw.v1")
        bus = ["--bootstrap", broker.bootstrap_servers, "--topic-prefix", prefix]
        published = _mlbus("publish", str(path), "--spec", str(spec_path), "--wait", "60", *bus)
        assert published.returncode == 0, published.stderr
        unlabelled = rows // 10
        summary = f"accepted {rows} (training {rows - unlabelled}, prediction {unlabelled})"
        assert f"{summary}, rejected 1, duplicate 0" in published.stdout, published.stdout
        assert f"1  {target}: class" in published.stdout
        records = asyncio.run(
            read_topic(
                broker.bootstrap_servers,
                topics.records,
                until=lambda got: len(got) >= rows - unlabelled,
                timeout=30,
            )
        )
    assert {r["target"] for r in records} == classes
