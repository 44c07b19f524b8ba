"""Labelled records of data sets the trainer does not know yet, held until it learns them.

Ingest may learn a data set's spec a moment before the trainer does: its records must not be
lost meanwhile. They are held in arrival order, at most `limit` in all; beyond that the oldest
are dropped (counted and logged), so a data set that is never announced cannot fill memory.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

    from contracts import RecordIngested
    from services.trainer.metrics import TrainerMetrics

log = logging.getLogger(__name__)

PENDING_LIMIT = 100_000


class PendingRecords:
    """At most `limit` records of unknown data sets, oldest first."""

    def __init__(self, metrics: TrainerMetrics, limit: int = PENDING_LIMIT) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self._records: deque[RecordIngested] = deque()
        self._metrics = metrics

    def __len__(self) -> int:
        return len(self._records)

    def hold(self, records: Iterable[RecordIngested]) -> None:
        """Keep the labelled `records` (the unlabelled ones never train); drop the oldest
        beyond the limit."""
        self._records.extend(r for r in records if r.target is not None)
        dropped = max(0, len(self._records) - self.limit)
        for _ in range(dropped):
            self._records.popleft()
        if dropped:
            self._metrics.pending_dropped.inc(dropped)
            log.warning(
                "trainer: dropped the %d oldest records of unknown data sets (%d held at most)",
                dropped,
                self.limit,
            )
        self._metrics.records_pending.set(len(self._records))

    def release(self, dataset: str) -> list[RecordIngested]:
        """The held records of `dataset`, oldest first; they are no longer held."""
        mine = [r for r in self._records if r.dataset == dataset]
        if mine:
            self._records = deque(r for r in self._records if r.dataset != dataset)
            self._metrics.records_pending.set(len(self._records))
        return mine

    def datasets(self) -> dict[str, int]:
        """How many records are held, by data set."""
        counts: dict[str, int] = {}
        for record in self._records:
            counts[record.dataset] = counts.get(record.dataset, 0) + 1
        return counts
