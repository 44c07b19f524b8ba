"""The promotion decision: which alias a newly registered version gets. Pure, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

if TYPE_CHECKING:
    from contracts import ModelMetrics

CHAMPION: Final = "champion"
CHALLENGER: Final = "challenger"


@dataclass(frozen=True)
class Champion:
    """The version currently holding the `champion` alias and its own recorded holdout RMSE."""

    version: int
    rmse: float


@dataclass(frozen=True)
class Decision:
    alias: Literal["champion", "challenger"]
    reason: str

    @property
    def promoted(self) -> bool:
        return self.alias == CHAMPION


def decide_promotion(candidate: ModelMetrics, champion: Champion | None, margin: float) -> Decision:
    """Champion if there is none yet, or if the candidate beats it by the relative `margin`.

    Both are compared on the same holdout records, which neither trained on, when the trainer
    scored the current champion there (`comparison`; older cards: `champion_rmse` on the
    candidate's holdout); otherwise on their own, different holdouts.
    """
    if champion is None:
        return Decision(CHAMPION, "first version: no champion yet")
    candidate_rmse, champion_rmse, basis = _compared(candidate, champion)
    threshold = champion_rmse * (1.0 - margin)
    comparison = (
        f"rmse {candidate_rmse:.6g} vs champion v{champion.version} rmse {champion_rmse:.6g}"
        f" {basis} (needs < {threshold:.6g}, margin {margin:g})"
    )
    if candidate_rmse < threshold:
        return Decision(CHAMPION, f"beats champion: {comparison}")
    return Decision(CHALLENGER, f"does not beat champion: {comparison}")


def _compared(candidate: ModelMetrics, champion: Champion) -> tuple[float, float, str]:
    """(candidate rmse, champion rmse, on which rows) for the fairest comparison on record."""
    same = candidate.comparison
    if same is not None and same.champion_version == champion.version:
        rows = f"{same.rows.count} holdout records {same.rows.fingerprint[:12]}"
        return same.rmse, same.champion_rmse, f"on the same {rows}, unseen by both"
    scored = candidate.champion_rmse
    if candidate.champion_version == champion.version and scored is not None:
        return candidate.rmse, scored, "on the same holdout"
    return candidate.rmse, champion.rmse, _fallback_basis(candidate, champion)


def _fallback_basis(candidate: ModelMetrics, champion: Champion) -> str:
    if candidate.champion_version is None or candidate.champion_rmse is None:
        why = "the trainer did not score the champion on this holdout"
    else:
        why = f"the trainer scored v{candidate.champion_version}, not the current champion"
    return f"as recorded at its own training, on a different holdout ({why})"
