"""Fuzz runs: how many inputs per boundary and from which seed (a failure names both)."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field

EXAMPLES = int(os.environ.get("MLBUS_FUZZ_EXAMPLES", "10000"))
SEED = int(os.environ.get("MLBUS_FUZZ_SEED", "13"))


@dataclass
class Tally:
    """Answers by status, and the records the 200s accounted for."""

    statuses: Counter[int] = field(default_factory=Counter)
    processed: int = 0

    def report(self, boundary: str) -> str:
        statuses = ", ".join(f"{s}: {n}" for s, n in sorted(self.statuses.items()))
        return (
            f"{boundary}: {self.statuses.total()} inputs (seed {SEED}); statuses {statuses};"
            f" {self.processed} records processed"
        )
