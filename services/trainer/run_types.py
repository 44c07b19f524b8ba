"""What a training run takes and gives: its options, the champion, the model, its errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

    from contracts import ModelCard
    from services.trainer.estimators import ClassWeight, EstimatorName, HyperValue

MIN_SNAPSHOT = 10  # below this a 20 % holdout says nothing
MIN_HOLDOUT = 2  # rows: r2 needs two


class TrainingError(RuntimeError):
    """A run that cannot produce a model (too little data, or a refused model)."""


class ModelRefusedError(TrainingError):
    """The trained model failed the ONNX parity check: it must not be uploaded."""


@dataclass(frozen=True)
class TrainingOptions:
    estimator: EstimatorName = "hist_gradient_boosting"
    seed: int = 0
    holdout_fraction: float = 0.2  # of record ids, held out for good (see holdout.py)
    parity_tolerance: float = 0.01  # largest |onnx - sklearn| / std(holdout target)
    threads: int = 1  # OpenMP/joblib threads of one fit; more only help on an idle machine
    hyperparameters: Mapping[str, HyperValue] = field(default_factory=dict)
    class_weight: ClassWeight = "balanced"  # classifiers only; hyperparameters may override
    # Classifiers: the largest |onnx - sklearn| of a class probability on the holdout.
    probability_tolerance: float = 1e-3


@dataclass(frozen=True)
class Champion:
    """The registry's champion at training time, to be scored on this run's holdout.

    `holdout_fraction` is the one it was trained with (None: not recorded, an older card);
    `classes` are its probability columns' classes (None: a regressor).
    """

    version: int
    onnx: bytes
    holdout_fraction: float | None = None
    classes: tuple[str, ...] | None = None


@dataclass(frozen=True)
class TrainedModel:
    """What a run uploads: the ONNX bytes and their card; `seconds` = fit + convert + check."""

    onnx: bytes
    card: ModelCard
    seconds: float
