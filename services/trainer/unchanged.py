"""Whether a run would only repeat the registry's latest version: same records, same options.

A restarted trainer re-reads the records topic and would otherwise upload an identical model
as a new version.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from services.trainer.training import TrainingOptions, effective_hyperparameters, make_estimator

if TYPE_CHECKING:
    from contracts import ModelCard
    from services.trainer.estimators import Task

# Parameters that change how fast a model trains, never what it learns.
_NOT_LEARNED = frozenset({"n_jobs", "verbose"})


def run_hyperparameters(options: TrainingOptions, task: Task = "regression") -> dict[str, Any]:
    """The hyperparameters a run with `options` records on its card (without the learned-free)."""
    estimator = make_estimator(
        options.estimator,
        options.seed,
        options.threads,
        options.hyperparameters,
        task,
        options.class_weight,
    )
    return _learned(effective_hyperparameters(estimator))


def repeats(
    card: ModelCard, fingerprint: str, options: TrainingOptions, task: Task = "regression"
) -> bool:
    """Whether `card`'s model was trained on the snapshot `fingerprint` with the same
    estimator, hyperparameters, seed and holdout fraction as a run with `options` would use
    (for the spec's `task`: a classifier's hyperparameters differ from a regressor's)."""
    metrics = card.metrics
    return (
        card.snapshot_fingerprint == fingerprint
        and card.estimator == options.estimator
        and metrics.seed == options.seed
        and metrics.holdout_fraction == options.holdout_fraction
        and metrics.hyperparameters is not None
        and metrics.task == task
        and _learned(metrics.hyperparameters) == run_hyperparameters(options, task)
    )


def _learned(hyperparameters: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in hyperparameters.items() if k not in _NOT_LEARNED}
