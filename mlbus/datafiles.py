"""Data files as raw records (CSV, Parquet), and a drafted dataset spec from a CSV."""

from __future__ import annotations

import csv
import math
import re
import statistics
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from contracts import (
    BooleanFeature,
    CategoricalFeature,
    DatasetSpec,
    Feature,
    IntegerFeature,
    NumericFeature,
    Target,
)
from services.ingest.validation import normalise_text

PARQUET_SUFFIXES = (".parquet", ".pq")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TARGET_NAMES = ("target", "label", "y", "price")
_ID_NAMES = ("record_id", "id")
_BOOLEAN_WORDS = {"true", "false"}


def is_parquet(path: Path) -> bool:
    return path.suffix.lower() in PARQUET_SUFFIXES


def count_rows(path: Path) -> int:
    """Rows of a data file, cheaply: Parquet metadata, or the CSV's lines."""
    if is_parquet(path):
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    with path.open(newline="", encoding="utf-8") as handle:
        return sum(1 for _ in csv.reader(handle)) - 1


def read_rows(path: Path) -> Iterator[dict[str, Any]]:
    """The file's rows as raw records: empty cells and missing values become null.

    CSV cells stay text (ingest parses them); Parquet values keep their types.
    """
    if is_parquet(path):
        yield from _parquet_rows(path)
        return
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            yield {name: (value if value != "" else None) for name, value in row.items()}


def _parquet_rows(path: Path) -> Iterator[dict[str, Any]]:
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(path).iter_batches(batch_size=10_000):
        yield from batch.to_pylist()


# --- spec inference ------------------------------------------------------------------------


class Column:
    """What one CSV column holds."""

    def __init__(self, name: str, cells: list[str]) -> None:
        self.name = name
        self.values = [cell.strip() for cell in cells if cell.strip() != ""]
        self.nullable = len(self.values) < len(cells)
        self.numbers = [_number(v) for v in self.values]

    @property
    def numeric(self) -> bool:
        return bool(self.values) and all(n is not None for n in self.numbers)

    @property
    def integral(self) -> bool:
        return self.numeric and all(re.fullmatch(r"[+-]?\d+", v) for v in self.values)

    def finite_numbers(self) -> list[float]:
        return [n for n in self.numbers if n is not None and math.isfinite(n)]


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def infer_spec(
    path: Path,
    *,
    name: str | None = None,
    target: str | None = None,
    record_id: str | None = None,
    max_categories: int = 30,
    warnings: list[str] | None = None,
) -> DatasetSpec:
    """A draft spec for the CSV at `path`, for the user to edit; notes go to `warnings`."""
    notes = warnings if warnings is not None else []
    columns = _columns(path)
    if not columns:
        raise ValueError(f"{path}: no columns")
    target_column = _target_column(columns, target)
    id_field = record_id or next((c.name for c in columns if c.name in _ID_NAMES), "record_id")
    features: list[Feature] = []
    for column in columns:
        if column.name in (target_column.name, id_field):
            continue
        if not _NAME.fullmatch(column.name):
            notes.append(f"column {column.name!r} skipped: not a valid feature name")
            continue
        feature = _feature(column, max_categories, notes)
        if feature is not None:
            features.append(feature)
    spec_name = name or re.sub(r"[^a-z0-9_-]+", "-", path.stem.lower()).strip("-_") or "dataset"
    low = 0.0 if min(target_column.finite_numbers(), default=0) >= 0 else None
    return DatasetSpec(
        name=spec_name,
        record_id_field=id_field,
        target=Target(name=target_column.name, min=low),
        features=tuple(features),
    )


def _columns(path: Path) -> list[Column]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        cells: list[list[str]] = [[] for _ in header]
        for row in reader:
            for index in range(len(header)):
                cells[index].append(row[index] if index < len(row) else "")
    return [Column(name, column) for name, column in zip(header, cells, strict=True)]


def _target_column(columns: list[Column], target: str | None) -> Column:
    by_name = {c.name: c for c in columns}
    if target is not None:
        if target not in by_name:
            raise ValueError(f"no column {target!r} for the target; columns: {list(by_name)}")
        return by_name[target]
    for candidate in _TARGET_NAMES:
        if candidate in by_name and by_name[candidate].numeric:
            return by_name[candidate]
    numeric = [c for c in columns if c.numeric]
    if not numeric:
        raise ValueError("no numeric column to use as the target; name one with --target")
    return numeric[-1]


def _feature(column: Column, max_categories: int, notes: list[str]) -> Feature | None:
    """The feature a column looks like, with an imputation rule when it has empty cells."""
    name, nullable = column.name, column.nullable
    if not column.values:
        notes.append(f"column {name!r} skipped: always empty")
        return None
    if column.integral:
        ints = [int(v) for v in column.values]
        impute = int(statistics.median_low(ints)) if nullable else None
        return IntegerFeature(
            name=name, min=0 if min(ints) >= 0 else None, nullable=nullable, impute=impute
        )
    if column.numeric:
        finite = column.finite_numbers()
        median = float(statistics.median(finite)) if nullable and finite else None
        low = 0.0 if finite and min(finite) >= 0 else None
        return NumericFeature(name=name, min=low, nullable=nullable, impute=median)
    words = Counter(normalise_text(v) for v in column.values)
    if set(words) <= _BOOLEAN_WORDS:
        mode = words.most_common(1)[0][0] == "true" if nullable else None
        return BooleanFeature(name=name, nullable=nullable, impute=mode)
    if len(words) > max_categories:
        notes.append(f"column {name!r} skipped: {len(words)} distinct texts (an id or free text?)")
        return None
    categories = tuple(sorted(words))
    mode_category = words.most_common(1)[0][0] if nullable else None
    return CategoricalFeature(
        name=name, categories=categories, nullable=nullable, impute=mode_category
    )
