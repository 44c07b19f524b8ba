"""Training requests that coalesce: at most one run in progress and one pending."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from services.trainer.selection import SnapshotSelection

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from services.trainer.training import TrainingOptions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainRequest:
    """Why to train and on what: the records `selection` picks, with `options` (None: the
    settings').

    `min_new_records` makes the run conditional: it is dropped if fewer new records arrived
    since the previous run took its snapshot (that snapshot already held them). `min_records`
    is the fewest records the run trains on (None: the settings' min_records).
    """

    reason: str
    model_name: str
    selection: SnapshotSelection = field(default_factory=SnapshotSelection)
    min_new_records: int | None = None
    options: TrainingOptions | None = None
    min_records: int | None = None

    def merged_with(self, newer: TrainRequest) -> TrainRequest:
        """One request standing for both: the narrower selection (drift) wins, the newer
        explicit options win, and it is conditional only if both were."""
        reasons = self.reason.split("; ")
        if newer.reason not in reasons:
            reasons.append(newer.reason)
        conditional = self.min_new_records is not None and newer.min_new_records is not None
        min_new = _smallest(self.min_new_records, newer.min_new_records)
        return TrainRequest(
            "; ".join(reasons),
            model_name=newer.model_name,
            selection=self.selection.narrowest(newer.selection),
            min_new_records=min_new if conditional else None,
            options=newer.options if newer.options is not None else self.options,
            min_records=_smallest(self.min_records, newer.min_records),
        )


def _smallest(*values: int | None) -> int | None:
    return min((v for v in values if v is not None), default=None)


class RunCoalescer:
    """Runs `run` for requests one at a time; requests made meanwhile merge into one."""

    def __init__(self, run: Callable[[TrainRequest], Awaitable[None]]) -> None:
        self._run = run
        self._task: asyncio.Task[None] | None = None
        self._pending: TrainRequest | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def pending(self) -> TrainRequest | None:
        return self._pending

    def request(self, request: TrainRequest) -> None:
        """Start a run now, or make `request` (part of) the one run after the current one."""
        if not self.running:
            self._task = asyncio.create_task(self._drain(request), name="mlbus-trainer-run")
        elif self._pending is None:
            self._pending = request
        else:
            self._pending = self._pending.merged_with(request)

    async def wait_idle(self) -> None:
        """Return once no run is in progress or pending."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def close(self) -> None:
        """Drop the pending request and wait for the run in progress (threads cannot be cut)."""
        self._pending = None
        await self.wait_idle()

    async def _drain(self, first: TrainRequest) -> None:
        current: TrainRequest | None = first
        while current is not None:
            try:
                await self._run(current)
            except Exception:  # a failed run must never stop later runs
                log.exception("trainer: run for %r failed", current.reason)
            # No await between taking the pending request and leaving: `request` never sees
            # a finished-looking task while a request is still waiting.
            current, self._pending = self._pending, None
