"""A publish function for the Ingestor that keeps what it was given, for tests without a broker."""

from __future__ import annotations

from typing import Any

from contracts import Envelope


class Recorder:
    """A publish function that keeps what it was given."""

    def __init__(self) -> None:
        self.sent: list[tuple[Envelope, str, bytes | None]] = []

    async def __call__(self, event: Envelope, body: bytes, topic: str, key: bytes | None) -> None:
        assert body == event.model_dump_json().encode()
        self.sent.append((event, topic, key))

    def on(self, topic: str) -> list[Any]:
        return [event for event, sent_topic, _ in self.sent if sent_topic == topic]
