"""The promotion decision: which alias a newly registered version gets. Pure, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

from contracts.models import LOWER_IS_BETTER, as_loss

if TYPE_CHECKING:
    from contracts import ModelMetrics

CHAMPION: Final = "champion"
CHALLENGER: Final = "challenger"


@dataclass(frozen=True)
class Champion:
    """The version currently holding the `champion` alias and its own recorded metrics."""

    version: int
    metrics: ModelMetrics


@dataclass(frozen=True)
class Decision:
    alias: Literal["champion", "challenger"]
    reason: str

    @property
    def promoted(self) -> bool:
        return self.alias == CHAMPION


def decide_promotion(candidate: ModelMetrics, champion: Champion | None, margin: float) -> Decision:
    """Champion if there is none yet, or if the candidate beats it by the relative `margin`.

    They are compared by the candidate's `metric` as a loss (rmse, log loss; 1 - accuracy,
    macro F1 or ROC AUC): the candidate needs a loss below the champion's times (1 - margin).
    Both are compared on the same holdout records, which neither trained on, when the trainer
    scored the current champion there (`comparison`; older cards: `champion_rmse` on the
    candidate's holdout); otherwise on their own, different holdouts. A candidate of another
    task than the champion's (the data set's target became a class, or a number again) takes
    over: their scores do not compare, and a predictor serving the new spec refuses the old
    champion.
    """
    if champion is None:
        return Decision(CHAMPION, "first version: no champion yet")
    if candidate.task != champion.metrics.task:
        return Decision(
            CHAMPION,
            f"the task changed: champion v{champion.version} is a {champion.metrics.task} model,"
            f" this one a {candidate.task} model, whose scores do not compare",
        )
    metric = candidate.metric
    compared = _compared(candidate, champion)
    if compared is None:
        return Decision(CHALLENGER, f"champion v{champion.version} has no {metric} to compare")
    candidate_loss, champion_loss, basis = compared
    threshold = champion_loss * (1.0 - margin)
    comparison = (
        f"{_named(metric)} {_shown(metric, candidate_loss)} vs champion v{champion.version}"
        f" {_named(metric)} {_shown(metric, champion_loss)} {basis}"
        f" (needs {_needs(metric, threshold)}, margin {margin:g})"
    )
    if candidate_loss < threshold:
        return Decision(CHAMPION, f"beats champion: {comparison}")
    return Decision(CHALLENGER, f"does not beat champion: {comparison}")


def _named(metric: str) -> str:
    return metric.replace("_", " ")


def _shown(metric: str, loss: float) -> str:
    """A loss as the score people read (accuracy 0.93, not loss 0.07)."""
    return f"{loss if metric in LOWER_IS_BETTER else 1.0 - loss:.6g}"


def _needs(metric: str, threshold: float) -> str:
    return f"< {threshold:.6g}" if metric in LOWER_IS_BETTER else f"> {1.0 - threshold:.6g}"


def _compared(candidate: ModelMetrics, champion: Champion) -> tuple[float, float, str] | None:
    """(candidate loss, champion loss, on which rows) for the fairest comparison on record."""
    metric = candidate.metric
    same = _same_rows(candidate, champion)
    if same is not None:
        return same
    own = candidate.loss()
    scored = candidate.champion_rmse
    if own is None:
        return None
    if metric == "rmse" and candidate.champion_version == champion.version and scored is not None:
        return own, scored, "on the same holdout"
    theirs = champion.metrics.loss(metric)
    return None if theirs is None else (own, theirs, _fallback_basis(candidate, champion))


def _same_rows(candidate: ModelMetrics, champion: Champion) -> tuple[float, float, str] | None:
    """Both models' losses on the holdout rows neither trained on, when the trainer scored
    the current champion there by the candidate's metric."""
    metric = candidate.metric
    by_score, by_rmse = candidate.score_comparison, candidate.comparison
    if by_score is not None and by_score.metric == metric:
        losses = as_loss(metric, by_score.score), as_loss(metric, by_score.champion_score)
        version, rows = by_score.champion_version, by_score.rows
    elif by_rmse is not None and metric == "rmse":
        losses, version, rows = (
            (by_rmse.rmse, by_rmse.champion_rmse),
            by_rmse.champion_version,
            by_rmse.rows,
        )
    else:
        return None
    if version != champion.version:
        return None
    where = f"on the same {rows.count} holdout records {rows.fingerprint[:12]}, unseen by both"
    return losses[0], losses[1], where


def _fallback_basis(candidate: ModelMetrics, champion: Champion) -> str:
    if candidate.champion_version is None or candidate.champion_rmse is None:
        why = "the trainer did not score the champion on this holdout"
    else:
        why = f"the trainer scored v{candidate.champion_version}, not the current champion"
    return f"as recorded at its own training, on a different holdout ({why})"
