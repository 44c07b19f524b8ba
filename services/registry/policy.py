"""The promotion decision: which alias a newly registered version gets. Pure, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

CHAMPION: Final = "champion"
CHALLENGER: Final = "challenger"


@dataclass(frozen=True)
class Champion:
    """The version currently holding the `champion` alias and its holdout RMSE."""

    version: int
    rmse: float


@dataclass(frozen=True)
class Decision:
    alias: Literal["champion", "challenger"]
    reason: str

    @property
    def promoted(self) -> bool:
        return self.alias == CHAMPION


def decide_promotion(candidate_rmse: float, champion: Champion | None, margin: float) -> Decision:
    """Champion if there is none yet, or if the candidate beats it by the relative `margin`."""
    if champion is None:
        return Decision(CHAMPION, "first version: no champion yet")
    threshold = champion.rmse * (1.0 - margin)
    comparison = (
        f"rmse {candidate_rmse:.6g} vs champion v{champion.version} rmse {champion.rmse:.6g}"
        f" (needs < {threshold:.6g}, margin {margin:g})"
    )
    if candidate_rmse < threshold:
        return Decision(CHAMPION, f"beats champion: {comparison}")
    return Decision(CHALLENGER, f"does not beat champion: {comparison}")
