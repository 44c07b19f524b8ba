"""A steady stream of messages to one topic, sent from a thread of its own, for tests that
measure how long a rebalance pauses a service under load."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from aiokafka import AIOKafkaProducer

# One message: the record id it is charged to, and the bytes sent.
Message = tuple[str, bytes]


@dataclass
class PacedStream:
    """Sends `messages` at `rate` per second until they run out or the stream is stopped;
    record id -> wall time sent (ms)."""

    bootstrap: str
    topic: str
    messages: Iterable[Message]
    rate: int
    sent_at: dict[str, float] = field(default_factory=dict)
    stopping: threading.Event = field(default_factory=threading.Event)

    async def _run(self) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, linger_ms=0)
        await producer.start()
        try:
            start = time.perf_counter()
            for index, (record_id, payload) in enumerate(self.messages):
                if self.stopping.is_set():
                    break
                await asyncio.sleep(max(0.0, start + index / self.rate - time.perf_counter()))
                self.sent_at[record_id] = time.time() * 1000
                await producer.send(self.topic, payload)
            await producer.flush()
        finally:
            await producer.stop()

    @contextmanager
    def running(self) -> Iterator[PacedStream]:
        """The stream flows in the block; it stops, flushed, when the block ends."""
        thread = threading.Thread(target=asyncio.run, args=(self._run(),), daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.stopping.set()
            thread.join(30)
