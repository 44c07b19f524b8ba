"""Publishes the events the store queued, in order, until each one is out (at-least-once)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from contracts import ModelEvent
from services.registry.store import RegistryStore

log = logging.getLogger(__name__)

Send = Callable[[ModelEvent], Awaitable[object]]


class Outbox:
    """Drains the store's outbox through `send`; an event is marked only after it was sent."""

    def __init__(self, store: RegistryStore, send: Send) -> None:
        self.store = store
        self.send = send
        self._lock = asyncio.Lock()  # one drainer at a time: no event is sent twice by us

    async def flush(self) -> int:
        """Send pending events oldest first; stop at the first failure to keep their order."""
        sent = 0
        async with self._lock:
            while pending := await asyncio.to_thread(self.store.pending_events):
                for item in pending:
                    try:
                        await self.send(item.event)
                    except Exception as exc:  # broker down or not started: retried later
                        log.warning("registry: event %s not published yet (%s)", item.seq, exc)
                        return sent
                    await asyncio.to_thread(self.store.mark_published, item.seq)
                    sent += 1
        return sent

    async def flush_within(self, seconds: float) -> None:
        """Flush, but give up waiting after `seconds`; what is left goes out on a later flush."""
        try:
            await asyncio.wait_for(self.flush(), timeout=seconds)
        except TimeoutError:
            log.warning("registry: publishing took over %.1fs; events stay queued", seconds)

    async def run(self, interval_seconds: float) -> None:
        """Flush forever, every `interval_seconds` (runs as a task while the broker is up)."""
        while True:
            await self.flush()
            await asyncio.sleep(interval_seconds)
