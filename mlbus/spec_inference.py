"""`mlbus spec infer`: a draft dataset spec from a CSV, and a list of what it guessed.

The guesses, in order:
- the target: the column named by `--target`; else the first column called target, label,
  price or y (in that order, any case) that holds numbers or class labels; else the last such
  column. Whole numbers or text with few distinct values make a classification target, other
  numbers a regression target: the rules are in mlbus.target_inference;
- the record id: the column named by `--record-id`; else a column named like an identifier
  (record_id, id, uuid, key, *_id, *Id) whose values are all present and distinct; else a
  text column whose values are all present and distinct (names, codes); else none, and
  `mlbus publish` derives ids from the file and the row number;
- each other column's type: integer, numeric, boolean (true/false), yes/no (a categorical
  with the y/n, true/false, 1/0 spellings as aliases) or categorical; lower bounds of 0 where
  no value is negative; nullable with an imputed median or mode where cells are empty.
"""

from __future__ import annotations

import csv
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from contracts import (
    BooleanFeature,
    CategoricalFeature,
    DatasetSpec,
    Feature,
    IntegerFeature,
    NumericFeature,
)
from contracts.normalise import normalise_text
from mlbus.csv_columns import Column
from mlbus.target_inference import MAX_CLASSES, Task, infer_target

if TYPE_CHECKING:
    from pathlib import Path

_FEATURE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ID_NAME = re.compile(r"^(record_id|id|uuid|key)$|_id$|[a-z]Id$|ID$", re.IGNORECASE)
_ID_NAME_CASED = re.compile(r"^(record_id|id|uuid|key)$|_id$|[a-z0-9]Id$|ID$")
_TRUE_FALSE = {"true", "false"}
_YES_NO_WORDS = {"yes", "no", "y", "n"}
YES_NO_ALIASES = {"y": "yes", "true": "yes", "1": "yes", "n": "no", "false": "no", "0": "no"}


@dataclass
class Draft:
    """A drafted spec, the guesses behind it, and the columns it left out (with why)."""

    spec: DatasetSpec
    guesses: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def draft_spec(
    path: Path,
    *,
    name: str | None = None,
    target: str | None = None,
    record_id: str | None = None,
    max_categories: int = 30,
    task: Task | None = None,
    max_classes: int = MAX_CLASSES,
) -> Draft:
    """A draft spec for the CSV at `path`, for the user to check; raises ValueError.

    `task` forces the target's task; `max_classes` bounds a classification target's classes.
    """
    columns = read_columns(path)
    if not columns:
        raise ValueError(f"{path}: no columns")
    guesses: list[str] = []
    skipped: list[str] = []
    target_column, spec_target = infer_target(
        columns, named=target, task=task, max_classes=max_classes, guesses=guesses
    )
    rest = [c for c in columns if c is not target_column]
    id_field = _record_id_field(rest, record_id, max_categories, guesses)
    features = [
        feature
        for column in rest
        if column.name != id_field
        and (feature := _feature_or_skip(column, max_categories, guesses, skipped)) is not None
    ]
    spec = DatasetSpec(
        name=name or _dataset_name(path),
        record_id_field=id_field,
        target=spec_target,
        features=tuple(features),
    )
    return Draft(spec, guesses, skipped)


def _dataset_name(path: Path) -> str:
    return re.sub(r"[^a-z0-9_-]+", "-", path.stem.lower()).strip("-_") or "dataset"


def read_columns(path: Path) -> list[Column]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        cells: list[list[str]] = [[] for _ in header]
        for row in reader:
            for index in range(len(header)):
                cells[index].append(row[index] if index < len(row) else "")
    return [Column(name, column) for name, column in zip(header, cells, strict=True)]


# --- record id ------------------------------------------------------------------


def _record_id_field(
    columns: list[Column], named: str | None, max_categories: int, guesses: list[str]
) -> str:
    if named is not None:
        guesses.append(f"record id {named!r}: named with --record-id")
        return named
    by_name = [c for c in columns if looks_like_id_name(c.name) and c.distinct]
    by_name.sort(key=lambda c: (c.name.lower() != "record_id", c.name.lower() != "id"))
    if by_name:
        guesses.append(f"record id {by_name[0].name!r}: named like an identifier, values distinct")
        return by_name[0].name
    texts = [c for c in columns if c.distinct and not c.numeric and len(c.values) > max_categories]
    if texts:
        guesses.append(f"record id {texts[0].name!r}: a text column whose values are distinct")
        return texts[0].name
    guesses.append(
        "record id: no identifier column; `mlbus publish` derives one from the file and row"
    )
    return "record_id"


def looks_like_id_name(name: str) -> bool:
    """record_id, id, uuid, key, and names ending in _id, Id or ID (customer_id, PassengerId)."""
    return bool(_ID_NAME_CASED.search(name) or _ID_NAME.fullmatch(name.lower()))


# --- features -------------------------------------------------------------------------------


def _feature_or_skip(
    column: Column, max_categories: int, guesses: list[str], skipped: list[str]
) -> Feature | None:
    if not _FEATURE_NAME.fullmatch(column.name):
        skipped.append(f"column {column.name!r} skipped: not a valid feature name")
        return None
    if not column.values:
        skipped.append(f"column {column.name!r} skipped: always empty")
        return None
    if column.numeric:
        return _number_feature(column)
    words = Counter(normalise_text(v) for v in column.values)
    if set(words) <= _TRUE_FALSE:
        mode = words.most_common(1)[0][0] == "true" if column.nullable else None
        guesses.append(f"{column.name!r}: boolean (true/false, also yes/no and 1/0)")
        return BooleanFeature(name=column.name, nullable=column.nullable, impute=mode)
    if set(words) <= _YES_NO_WORDS | _TRUE_FALSE:
        guesses.append(f"{column.name!r}: yes/no, with the spellings y/n, true/false, 1/0")
        return _yes_no(column, words)
    if len(words) > max_categories:
        skipped.append(
            f"column {column.name!r} skipped: {len(words)} distinct texts (an id or free text?)"
        )
        return None
    mode_category = words.most_common(1)[0][0] if column.nullable else None
    return CategoricalFeature(
        name=column.name,
        categories=tuple(sorted(words)),
        nullable=column.nullable,
        impute=mode_category,
    )


def _number_feature(column: Column) -> Feature:
    """An integer or numeric feature, with an imputation rule when it has empty cells."""
    name, nullable = column.name, column.nullable
    if column.integral:
        ints = [int(v) for v in column.values]
        impute = int(statistics.median_low(ints)) if nullable else None
        low = 0 if min(ints) >= 0 else None
        return IntegerFeature(name=name, min=low, nullable=nullable, impute=impute)
    finite = column.finite_numbers()
    median = float(statistics.median(finite)) if nullable and finite else None
    low_bound = 0.0 if finite and min(finite) >= 0 else None
    return NumericFeature(name=name, min=low_bound, nullable=nullable, impute=median)


def _yes_no(column: Column, words: Counter[str]) -> CategoricalFeature:
    canonical: Counter[str] = Counter()
    for word, count in words.items():
        canonical[YES_NO_ALIASES.get(word, word)] += count
    mode = canonical.most_common(1)[0][0] if column.nullable else None
    return CategoricalFeature(
        name=column.name,
        categories=("no", "yes"),
        aliases=dict(YES_NO_ALIASES),
        nullable=column.nullable,
        impute=mode,
    )


def guesses_comment(draft: Draft) -> str:
    """The YAML comment that ends a draft: what was guessed and left out, to check."""
    lines = ["", "# What `mlbus spec infer` guessed (check before use):"]
    lines += [f"# - {guess}" for guess in draft.guesses]
    lines += [f"# - {skip}" for skip in draft.skipped]
    lines.append(
        "# - bounds: min 0 where no value was negative, no max; nullable columns impute the"
        " median (numbers) or the most common value"
    )
    return "\n".join(lines) + "\n"
