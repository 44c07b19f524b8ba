"""An ordered pipeline stage: one task works through submitted items in order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

ItemT = TypeVar("ItemT")


class OrderedStage(Generic[ItemT]):
    """Runs `step` on each submitted item, one at a time and in submission order, in a task of
    its own, so the submitter moves on at once; at most `depth` items wait (back-pressure)."""

    def __init__(self, name: str, step: Callable[[ItemT], Awaitable[None]], depth: int) -> None:
        self._name = name
        self._step = step
        self._queue: asyncio.Queue[ItemT] = asyncio.Queue(maxsize=depth)
        self._task: asyncio.Task[None] | None = None

    async def submit(self, item: ItemT) -> None:
        """Queue `item`; waits while `depth` items are waiting."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=self._name)
        await self._queue.put(item)

    async def drain(self, timeout_seconds: float) -> None:
        """Wait (a bounded time) until every queued item went through `step`."""
        if self._task is not None and not self._task.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), timeout_seconds)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                await self._step(item)
            except Exception:  # a step handles its own failures; this keeps the stage alive
                log.exception("%s: step failed", self._name)
            finally:
                self._queue.task_done()
