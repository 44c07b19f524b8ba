"""The promotion decision: which alias a newly registered version gets. Pure, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

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

    Both are compared on the candidate's holdout when the trainer scored the current champion
    there (`champion_version`, `champion_rmse`); otherwise on their own, different holdouts.
    """
    if champion is None:
        return Decision(CHAMPION, "first version: no champion yet")
    scored = candidate.champion_rmse
    if candidate.champion_version == champion.version and scored is not None:
        champion_rmse, basis = scored, "on the same holdout"
    else:
        champion_rmse = champion.rmse
        basis = _fallback_basis(candidate, champion)
    threshold = champion_rmse * (1.0 - margin)
    comparison = (
        f"rmse {candidate.rmse:.6g} vs champion v{champion.version} rmse {champion_rmse:.6g}"
        f" {basis} (needs < {threshold:.6g}, margin {margin:g})"
    )
    if candidate.rmse < threshold:
        return Decision(CHAMPION, f"beats champion: {comparison}")
    return Decision(CHALLENGER, f"does not beat champion: {comparison}")


def _fallback_basis(candidate: ModelMetrics, champion: Champion) -> str:
    if candidate.champion_version is None or candidate.champion_rmse is None:
        why = "the trainer did not score the champion on this holdout"
    else:
        why = f"the trainer scored v{candidate.champion_version}, not the current champion"
    return f"as recorded at its own training, on a different holdout ({why})"
