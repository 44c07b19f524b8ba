"""Data files for `mlbus publish` and `mlbus spec infer`, without a broker."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from contracts import (
    HOUSE_PRICES,
    BooleanFeature,
    CategoricalFeature,
    IntegerFeature,
    NumericFeature,
)
from mlbus.cli import main
from mlbus.datafiles import count_rows, file_identity, read_rows, with_record_ids
from mlbus.publishing import ProgressBar, Summary, check_rows, record_id_of
from mlbus.spec_inference import draft_spec
from services.common.specfile import load_spec
from services.ingest.validation import ValidRecord, validate_record

CSV = """record_id,area,rooms,pool,colour,note,price
a1,100.5,3,true,Red,x1,10
a2,,2,false,blue ,x2,20
a3,80,,TRUE,red,x3,
"""


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "My Houses.csv"
    path.write_text(CSV, encoding="utf-8")
    return path


def test_csv_rows_keep_text_and_turn_empty_cells_into_nulls(csv_file: Path) -> None:
    rows = list(read_rows(csv_file))
    assert count_rows(csv_file) == len(rows) == 3
    assert rows[1]["area"] is None
    assert rows[0]["area"] == "100.5"


def test_parquet_rows_keep_their_types(tmp_path: Path) -> None:
    path = tmp_path / "rows.parquet"
    table = pa.table({"record_id": ["p1", "p2"], "area": [120.0, None], "rooms": [3, 4]})
    pq.write_table(table, path)
    assert count_rows(path) == 2
    assert list(read_rows(path)) == [
        {"record_id": "p1", "area": 120.0, "rooms": 3},
        {"record_id": "p2", "area": None, "rooms": 4},
    ]


def test_a_drafted_spec_types_columns_and_imputes_nullable_ones(csv_file: Path) -> None:
    draft = draft_spec(csv_file, max_categories=2)
    spec = draft.spec
    assert (spec.name, spec.record_id_field, spec.target.name) == (
        "my-houses",
        "record_id",
        "price",
    )
    assert spec.feature_names == ["area", "rooms", "pool", "colour"]
    area, rooms, pool, colour = spec.features
    assert isinstance(area, NumericFeature)
    assert (area.nullable, area.impute) == (True, 90.25)
    assert isinstance(rooms, IntegerFeature)
    assert (rooms.min, rooms.impute) == (0, 2)
    assert isinstance(pool, BooleanFeature)
    assert not pool.nullable
    assert isinstance(colour, CategoricalFeature)
    assert colour.categories == ("blue", "red")
    assert draft.skipped == ["column 'note' skipped: 3 distinct texts (an id or free text?)"]
    # The draft accepts the very file it was drafted from, nulls imputed.
    rows = [{k: v for k, v in row.items() if k != "note"} for row in read_rows(csv_file)]
    results = [validate_record(row, spec) for row in rows]
    assert all(isinstance(r, ValidRecord) for r in results)
    assert results[1].features["area"] == 90.25  # type: ignore[union-attr]


def test_spec_infer_prints_a_spec_that_loads(
    csv_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "spec.yaml"
    assert main(["spec", "infer", str(csv_file), "--target", "price", "-o", str(output)]) == 0
    assert load_spec(output).target.name == "price"
    assert main(["spec", "infer", str(csv_file), "--target", "nope"]) == 1
    assert "no column 'nope'" in capsys.readouterr().err


def test_record_ids_are_those_ingest_routes_under() -> None:
    assert record_id_of({"record_id": "x-1", "area": 1}, HOUSE_PRICES) == "x-1"
    assert record_id_of({"record_id": 7}, HOUSE_PRICES) == "7"
    result = validate_record({"record_id": 7, "area": 1}, HOUSE_PRICES)
    assert result.record_id == "7"


def test_rows_without_ids_get_the_file_identity_and_row_number(tmp_path: Path) -> None:
    same = "area,price\n100,1\n100,1\n120,2\n"
    first, again, other = (tmp_path / n for n in ("a.csv", "copy.csv", "b.csv"))
    first.write_text(same)
    again.write_text(same)
    other.write_text(same + "130,3\n")
    identity = file_identity(first)
    assert identity == file_identity(again) != file_identity(other)  # content, not name

    ids = [r["record_id"] for r in with_record_ids(read_rows(first), "record_id", identity)]
    assert ids == [f"{identity}-1", f"{identity}-2", f"{identity}-3"]  # identical rows apart
    republished = with_record_ids(read_rows(again), "record_id", file_identity(again))
    assert [r["record_id"] for r in republished] == ids  # stable: the same file again
    given = [{"record_id": "mine", "area": 1}, {"record_id": " ", "area": 2}]
    assert [r["record_id"] for r in with_record_ids(given, "record_id", "f")] == ["mine", "f-2"]


def test_publish_check_counts_what_ingest_would_do_with_each_row(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("a,flag,price\n1.5,Yes,3\n2,no,\n3,yes,4\n")
    spec = draft_spec(path).spec
    rows: list[dict[str, Any]] = [
        {"record_id": "1", "a": "1.5", "flag": " YES ", "price": "3"},
        {"record_id": "2", "a": "2", "flag": "n", "price": None},
        {"record_id": "3", "a": "-1", "flag": "maybe", "price": "4"},
        {"record_id": "4", "a": "x", "flag": "y", "price": "5", "extra": 1},
    ]
    checked = check_rows(rows, spec)
    assert (checked.labelled, checked.unlabelled, checked.rejected) == (1, 1, 2)
    assert checked.reasons == {
        "a: min": 1,
        "flag: category": 1,
        "a: type": 1,
        "extra: unknown_field": 1,
    }
    assert checked.examples[0].startswith("row 3: a: -1.0 is below the minimum 0.0")
    assert "would reject 2; nothing was sent" in checked.render()


def test_the_progress_bar_and_the_summary() -> None:
    out = io.StringIO()
    bar = ProgressBar(200, out=out, width=10)
    bar.update(50, force=True)
    bar.close(200)
    assert "[##........] 50/200  25%" in out.getvalue()
    assert out.getvalue().endswith("200/200 100% " + out.getvalue().rsplit("100% ", 1)[1])
    summary = Summary(published=10, training=4, prediction=2, rejected=2, duplicate=1)
    summary.reasons.update(["area: min", "area: min"])
    text = summary.render()
    assert text.splitlines()[0] == (
        "accepted 6 (training 4, prediction 2), rejected 2, duplicate 1"
    )
    assert "not yet accounted for by ingest: 1" in text
    assert "2  area: min" in text


def test_publish_check_derives_ids_unless_the_file_has_an_id_column_of_another_spec(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    own_ids = tmp_path / "own.csv"
    own_ids.write_text("PassengerId,area,price\n1,100,1\n2,120,2\n")
    draft = tmp_path / "own.yaml"
    assert main(["spec", "infer", str(own_ids), "-o", str(draft)]) == 0
    assert main(["publish", str(own_ids), "--spec", str(draft), "--check"]) == 0
    assert "would accept 2" in capsys.readouterr().out

    # Without --spec the built-in id field would be an unknown field there: none is added.
    assert main(["publish", str(own_ids), "--check"]) == 1
    captured = capsys.readouterr()
    assert "has 'PassengerId' but no 'record_id' column" in captured.err
    assert "record_id: unknown_field" not in captured.out

    no_ids = tmp_path / "houses.csv"
    no_ids.write_text(
        "area,bedrooms,bathrooms,stories,parking,mainroad,guestroom,basement,hotwaterheating,"
        "airconditioning,prefarea,furnishingstatus,price\n"
        "7420,4,2,3,2,Yes, no ,NO,no,y,yes,Furnished,13300000\n"
    )
    assert main(["publish", str(no_ids), "--check"]) == 0  # an id is derived: accepted
    assert "would accept 1 (training 1, prediction 0)" in capsys.readouterr().out
