"""Data files as raw records (CSV, Parquet); spec drafts are in mlbus.spec_inference."""

from __future__ import annotations

import csv
import hashlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from pathlib import Path

PARQUET_SUFFIXES = (".parquet", ".pq")


def is_parquet(path: Path) -> bool:
    return path.suffix.lower() in PARQUET_SUFFIXES


def count_rows(path: Path) -> int:
    """Rows of a data file, cheaply: Parquet metadata, or the CSV's lines."""
    if is_parquet(path):
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    with path.open(newline="", encoding="utf-8") as handle:
        return sum(1 for _ in csv.reader(handle)) - 1


def column_names(path: Path) -> list[str]:
    """The file's column names: the CSV header, or the Parquet schema's names."""
    if is_parquet(path):
        import pyarrow.parquet as pq

        return list(pq.ParquetFile(path).schema_arrow.names)
    with path.open(newline="", encoding="utf-8") as handle:
        return next(csv.reader(handle), [])


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


def file_identity(path: Path) -> str:
    """16 hex digits of the sha256 of the file's bytes: the same file, wherever it lies and
    whatever its name, has the same identity; any edit gives another."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def with_record_ids(
    rows: Iterable[dict[str, Any]], id_field: str, identity: str
) -> Iterator[dict[str, Any]]:
    """`rows`, each without an id given `{identity}-{row number}` (from 1) in `id_field`.

    Stable when the same file is published again (ingest's duplicate window then catches it),
    and distinct for identical rows, which are records of their own.
    """
    for number, row in enumerate(rows, start=1):
        value = row.get(id_field)
        if value is None or (isinstance(value, str) and not value.strip()):
            row = {**row, id_field: f"{identity}-{number}"}
        yield row
