"""A stand-in for the registry in the monitor's service tests."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.monitor.accumulate import Baseline


class FixedReferences:
    """Every version of every model has the same baseline."""

    def __init__(self, baseline: Baseline) -> None:
        self.baseline = baseline

    async def get(self, model_name: str, version: int) -> Baseline | None:
        return self.baseline
