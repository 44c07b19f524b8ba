"""The target of a drafted spec: which column, and whether it is a regression or a
classification target (`mlbus spec infer`).

The rules, as the guesses printed with a draft repeat them:
- class labels: a column's values, text normalised as categories are (case, whitespace) and
  whole numbers as their integer text (1, 1.0 and +1 are '1'), take 2 to `max_classes` (20)
  distinct values. They look like classes when each class has at least 5 rows on average
  (rows >= 5 x classes): too few rows per value and whole numbers are more likely a count.
- the task: `--task` when given; else a text target is a classification target (an error when
  it is not class labels), whole numbers that look like classes are one too, and any other
  numbers are a regression target.
- the column: `--target`; else the first column called target, label, price or y (in that
  order, any case) that holds numbers or text that looks like classes; else the last such
  column. With `--task`, only columns that can be a target of that task count.
- classes: sorted (numerically for whole numbers); a spelling in the file that does not
  normalise to its class ('1.0' for '1') becomes an alias. A binary target's positive class
  is the class called 1, yes, y, true, positive or pos (in that order), else the minority
  class (fewer labelled rows; on a tie the last). Metric log loss, threshold 0.5: the defaults.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from contracts import ClassificationTarget, RegressionTarget, Target
from contracts.normalise import normalise_text

if TYPE_CHECKING:
    from mlbus.csv_columns import Column

Task = Literal["regression", "classification"]
TASKS: tuple[Task, ...] = ("regression", "classification")
TARGET_NAMES = ("target", "label", "price", "y")
MAX_CLASSES = 20
MIN_ROWS_PER_CLASS = 5
POSITIVE_NAMES = ("1", "yes", "y", "true", "positive", "pos")
_HOLDS: dict[Task | None, str] = {
    None: "holds numbers or class labels",
    "regression": "holds numbers",
    "classification": "holds class labels",
}


@dataclass(frozen=True)
class Classes:
    """The classes a column's labels name, how many rows each has, and other spellings."""

    names: tuple[str, ...]
    counts: Counter[str]
    aliases: dict[str, str]

    @property
    def rows(self) -> int:
        return sum(self.counts.values())

    @property
    def enough_rows(self) -> bool:
        return self.rows >= MIN_ROWS_PER_CLASS * len(self.names)


def class_labels(column: Column, max_classes: int = MAX_CLASSES) -> Classes | str:
    """The classes of `column`'s values, or why they cannot be class labels."""
    if not column.values:
        return "it is always empty"
    whole = column.numeric and all(n is not None and n.is_integer() for n in column.numbers)
    if column.numeric and not whole:
        return "it holds numbers that are not whole"
    pairs = zip(column.values, column.numbers, strict=True)
    # A whole number's class is its integer text, as ingest reads a label 1 or 1.0.
    spellings = {v: str(int(n)) if whole and n is not None else normalise_text(v) for v, n in pairs}
    counts = Counter(spellings[v] for v in column.values)
    if len(counts) < 2:
        return f"it holds a single value ({next(iter(counts))!r})"
    if len(counts) > max_classes:
        return (
            f"it holds {len(counts)} distinct values, more than {max_classes} classes"
            " (--max-classes): an identifier or free text?"
        )
    names = sorted(counts, key=int) if whole else sorted(counts)
    aliases = {s: c for s, c in sorted(spellings.items()) if normalise_text(s) != c}
    return Classes(tuple(names), counts, aliases)


def infer_target(
    columns: list[Column],
    *,
    named: str | None,
    task: Task | None,
    max_classes: int,
    guesses: list[str],
) -> tuple[Column, Target]:
    """The target column and its target; raises ValueError."""
    column = _target_column(columns, named, task, max_classes, guesses)
    labels = class_labels(column, max_classes)
    chosen = task or _task_of(column, labels)
    if chosen == "regression":
        if not column.numeric:
            raise ValueError(f"target column {column.name!r} holds values that are not numbers")
        guesses.append(_regression_guess(column, task, labels))
        low = 0.0 if min(column.finite_numbers(), default=0) >= 0 else None
        return column, RegressionTarget(name=column.name, min=low)
    if isinstance(labels, str):
        why = "holds text, so it is" if task is None else "is, as --task says,"
        raise ValueError(
            f"target column {column.name!r} {why} a classification target, but {labels}"
        )
    guesses.append(_classification_guess(column, task, labels, max_classes))
    return column, _classification_target(column.name, labels, guesses)


def _task_of(column: Column, labels: Classes | str) -> Task:
    if not column.numeric:
        return "classification"
    looks_like_classes = isinstance(labels, Classes) and labels.enough_rows
    return "classification" if looks_like_classes else "regression"


def _fits(column: Column, task: Task | None, max_classes: int) -> bool:
    """Whether `column` can be guessed as the target (of `task` when given)."""
    if task == "regression":
        return column.numeric
    labels = class_labels(column, max_classes)
    if task == "classification":
        return isinstance(labels, Classes)
    return column.numeric or (isinstance(labels, Classes) and labels.enough_rows)


def _target_column(
    columns: list[Column],
    named: str | None,
    task: Task | None,
    max_classes: int,
    guesses: list[str],
) -> Column:
    if named is not None:
        by_name = {c.name: c for c in columns}
        if named not in by_name:
            raise ValueError(f"no column {named!r} for the target; columns: {list(by_name)}")
        guesses.append(f"target {named!r}: named with --target")
        return by_name[named]
    by_lower = {c.name.lower(): c for c in reversed(columns)}  # the first of a name wins
    what = _HOLDS[task]
    for candidate in TARGET_NAMES:
        column = by_lower.get(candidate)
        if column is not None and _fits(column, task, max_classes):
            order = ", ".join(TARGET_NAMES)
            guesses.append(f"target {column.name!r}: the first column called {order} that {what}")
            return column
    fitting = [c for c in columns if _fits(c, task, max_classes)]
    if not fitting:
        raise ValueError(f"no column that {what} to use as the target; name one with --target")
    guesses.append(
        f"target {fitting[-1].name!r}: the last column that {what} (none called"
        f" {', '.join(TARGET_NAMES)} does); name another with --target"
    )
    return fitting[-1]


def _regression_guess(column: Column, task: Task | None, labels: Classes | str) -> str:
    if task is not None:
        return f"target {column.name!r}: regression, as --task says"
    why = labels if isinstance(labels, str) else "fewer than 5 rows a value"
    return (
        f"target {column.name!r}: regression: numbers that are not class labels ({why});"
        " --task classification to force"
    )


def _classification_guess(
    column: Column, task: Task | None, labels: Classes, max_classes: int
) -> str:
    count = len(labels.names)
    if task is not None:
        return f"target {column.name!r}: classification, as --task says: {count} classes"
    if column.numeric:
        return (
            f"target {column.name!r}: classification: whole numbers with {count} distinct values"
            f" (at most {max_classes}, and {MIN_ROWS_PER_CLASS} rows or more each on average);"
            " classes sorted by number; --task regression to force"
        )
    return (
        f"target {column.name!r}: classification: text with {count} distinct values (at most"
        f" {max_classes}); classes sorted"
    )


def _classification_target(name: str, labels: Classes, guesses: list[str]) -> ClassificationTarget:
    if labels.aliases:
        spelt = ", ".join(f"{a!r} as {c!r}" for a, c in labels.aliases.items())
        guesses.append(f"target {name!r}: aliases for the file's other spellings: {spelt}")
    positive = None
    if len(labels.names) == 2:
        positive, why = positive_class(labels)
        guesses.append(f"positive class {positive!r}: {why}; threshold 0.5")
    guesses.append("metric log_loss (also macro_f1, accuracy, and roc_auc for binary targets)")
    return ClassificationTarget(
        name=name, classes=labels.names, aliases=labels.aliases, positive_class=positive
    )


def positive_class(labels: Classes) -> tuple[str, str]:
    """The positive class of a binary target, and why it was chosen."""
    for name in POSITIVE_NAMES:
        if name in labels.names:
            return name, f"called {name!r} (the first of {', '.join(POSITIVE_NAMES)})"
    order = {name: index for index, name in enumerate(labels.names)}
    minority = min(labels.names, key=lambda c: (labels.counts[c], -order[c]))
    count = labels.counts[minority]
    return minority, f"the minority class ({count} of {labels.rows} labelled rows)"
