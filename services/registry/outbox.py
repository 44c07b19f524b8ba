"""Publishes the events the store queued, in order, until each one is out (at-least-once).

Model events and spec events share one outbox, so they go out in the order they committed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.registry.events import OutboxEvent
    from services.registry.sql import Lease
    from services.registry.store import RegistryStore

log = logging.getLogger(__name__)

Send = Callable[["OutboxEvent"], Awaitable[object]]


class Outbox:
    """Drains the store's outbox through `send`; an event is marked only after it was sent."""

    def __init__(self, store: RegistryStore, send: Send) -> None:
        self.store = store
        self.send = send
        self._lock = asyncio.Lock()  # one drainer at a time: no event is sent twice by us

    async def flush(self) -> int:
        """Send pending events oldest first; stop at the first failure to keep their order.

        Only the process holding the outbox lease sends: with registry replicas on one
        database, another replica's flush returns 0 and the holder (or a later flush) sends.
        """
        async with self._lock:
            lease = await self._lease()
            if lease is None:
                return 0
            try:
                return await self._drain()
            finally:
                lease.release()  # at once, not in a thread: a cancelled flush still lets go

    async def _lease(self) -> Lease | None:
        acquiring = asyncio.ensure_future(asyncio.to_thread(self.store.try_outbox_lease))
        try:
            return await asyncio.shield(acquiring)
        except asyncio.CancelledError:  # the thread goes on: free what it takes once it is done
            acquiring.add_done_callback(_release_quietly)
            raise

    async def _drain(self) -> int:
        sent = 0
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


def _release_quietly(acquiring: asyncio.Future[Lease | None]) -> None:
    if not acquiring.cancelled() and acquiring.exception() is None:
        lease = acquiring.result()
        if lease is not None:
            lease.release()
