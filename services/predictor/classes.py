"""How a classifier's probabilities become a class: a threshold (binary) or the most probable.

The rule comes from the spec the predictor serves, not from the model: a binary target's
threshold can change (edit the spec, restart) without retraining. Probability columns are put in
the spec's class order once per batch, so every event lists the classes the same way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Sequence

    from contracts import ClassificationTarget

log = logging.getLogger(__name__)

Probabilities = np.ndarray[Any, np.dtype[np.float64]]  # [rows, classes], the spec's order
Indices = np.ndarray[Any, np.dtype[np.intp]]


class ClassMismatch(ValueError):
    """A model's classes are not the spec's: its probabilities cannot be named."""


@dataclass(frozen=True)
class ClassRule:
    """The spec's classes, where each one's probability sits in the model's output, and the
    decision: binary, `positive` when its probability reaches `threshold`; multiclass, argmax."""

    classes: tuple[str, ...]
    # The model's column of each of `classes`; -1 for a class the model never saw in training
    # (a rare class missing from its snapshot): its probability is 0.
    columns: Indices
    positive: int | None  # binary: the positive class's index in `classes`
    threshold: float | None  # binary only

    def ordered(self, output: Probabilities) -> Probabilities:
        """The model's probability columns in the spec's class order."""
        if self.columns.min() >= 0:
            return output[:, self.columns]
        present = self.columns >= 0
        ordered = np.zeros((output.shape[0], len(self.classes)), dtype=output.dtype)
        ordered[:, present] = output[:, self.columns[present]]
        return ordered

    def decide(self, probabilities: Probabilities) -> Indices:
        """The index (in `classes`) of each row's class."""
        if self.positive is None or self.threshold is None:
            return np.asarray(np.argmax(probabilities, axis=1), dtype=np.intp)
        negative = 1 - self.positive
        chosen = probabilities[:, self.positive] >= self.threshold
        return np.where(chosen, self.positive, negative)

    def names(self, decided: Indices) -> list[str]:
        """The class names of decided indices."""
        return [self.classes[i] for i in decided.tolist()]


def class_rule(model_classes: Sequence[str], target: ClassificationTarget) -> ClassRule:
    """The rule for a model whose probability columns are `model_classes`, serving `target`;
    ClassMismatch unless they are distinct classes of the target (in any order; the registry
    accepts a model that never saw a rare class, and so does the predictor)."""
    unknown = set(model_classes) - set(target.classes)
    if unknown or len(set(model_classes)) != len(model_classes) or len(model_classes) < 2:
        raise ClassMismatch(
            f"the model's classes {list(model_classes)} are not the spec target"
            f" {target.name!r}'s classes {list(target.classes)}"
        )
    column = {name: i for i, name in enumerate(model_classes)}
    columns = np.array([column.get(name, -1) for name in target.classes], dtype=np.intp)
    if not target.is_binary:
        return ClassRule(target.classes, columns, None, None)
    positive = target.classes.index(target.positive)
    return ClassRule(target.classes, columns, positive, target.threshold)
