"""What an in-process ingest publishes, collected per topic by a subscriber on its test broker."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from faststream.kafka.annotations import KafkaMessage

if TYPE_CHECKING:
    from faststream.kafka import KafkaBroker

    from contracts import Topics


@dataclass
class Published:
    by_topic: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def on(self, topic: str) -> list[dict[str, Any]]:
        return self.by_topic.get(topic, [])


def collect_outputs(broker: KafkaBroker, topics: Topics) -> Published:
    """Every body ingest publishes to its records, requests and dead-letter topics, from now on."""
    published = Published()

    @broker.subscriber(topics.records, topics.predict_requests, topics.rejected)
    async def collect(body: dict[str, Any], message: KafkaMessage) -> None:
        record = message.raw_message
        assert not isinstance(record, tuple)
        published.by_topic.setdefault(record.topic, []).append(body)

    return published
