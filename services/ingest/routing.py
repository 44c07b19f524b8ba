"""Where each record goes after validation; one code path for Kafka messages and HTTP bodies.

Labelled records go to the training topic, unlabelled ones to the prediction requests, and
everything that cannot be accepted to the dead-letter topic with all its reasons.
"""

from __future__ import annotations

import hashlib
import json
import logging
import reprlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid4, uuid5

from faststream.kafka import KafkaBroker

from contracts import (
    DatasetSpec,
    Envelope,
    PredictionRequested,
    RecordIngested,
    RecordRejected,
    RejectionReason,
    Topics,
)
from services.ingest.metrics import Destination, IngestMetrics
from services.ingest.validation import InvalidRecord, ValidRecord, decode_json, validate_record

log = logging.getLogger(__name__)

Publish = Callable[[Envelope, str, bytes | None], Awaitable[None]]

# Bounds on a dead-letter event, so that it always fits in a Kafka message even when the
# input was huge; otherwise its publish would fail on every retry and block the partition.
MAX_ORIGINAL_CHARS = 100_000
MAX_REASONS = 200
_EVENT_NAMESPACE = UUID("6f1c3a4e-25b1-4c55-9a53-6d0f1e0b8c21")


@dataclass(frozen=True)
class Origin:
    """Where a message came from: a topic partition and offset, or 'http'."""

    source: str
    partition: int | None = None
    offset: int | None = None


@dataclass(frozen=True)
class Rejected:
    index: int
    record_id: str | None
    reasons: tuple[RejectionReason, ...]


@dataclass
class Outcome:
    """What happened to the records of one message."""

    accepted: int = 0
    rejected: list[Rejected] = field(default_factory=list)


def broker_publisher(broker: KafkaBroker) -> Publish:
    """Publish through `broker`, waiting for the broker's acknowledgement."""

    async def publish(event: Envelope, topic: str, key: bytes | None) -> None:
        await broker.publish(event, topic, key=key)

    return publish


class Ingestor:
    """Validates the records of a message and publishes each one to its topic.

    Publish errors propagate: the caller must not commit the input (Kafka) or must answer
    with an error (HTTP), so that nothing is lost. Any other error dead-letters the record.
    """

    def __init__(
        self, spec: DatasetSpec, topics: Topics, publish: Publish, metrics: IngestMetrics
    ) -> None:
        self._spec = spec
        self._topics = topics
        self._publish = publish
        self._metrics = metrics

    async def ingest(self, raw: bytes, origin: Origin) -> Outcome:
        """Handle one message: a JSON object, or a JSON array whose elements are records."""
        outcome = Outcome()
        event_ids = _EventIds(origin, raw)
        decoded = decode_json(raw)
        if isinstance(decoded, RejectionReason):
            rejected = Rejected(index=0, record_id=None, reasons=(decoded,))
            await self._reject(rejected, _text(raw), origin, event_ids.next())
            outcome.rejected.append(rejected)
            return outcome
        is_array = isinstance(decoded, list)
        for index, item in enumerate(decoded if is_array else [decoded]):
            # An array element is a record of its own: its own JSON is its original.
            original = _json_text(item) if is_array else _text(raw)
            rejected_item = await self._ingest_record(item, index, original, origin, event_ids)
            if rejected_item is None:
                outcome.accepted += 1
            else:
                outcome.rejected.append(rejected_item)
        return outcome

    async def _ingest_record(
        self, item: object, index: int, original: str, origin: Origin, event_ids: _EventIds
    ) -> Rejected | None:
        """Route one decoded record; the rejection when it was not accepted."""
        event_id = event_ids.next()
        try:
            result = validate_record(item, self._spec)
            routed = self._routed(result, event_id) if isinstance(result, ValidRecord) else None
        except Exception as exc:  # a bug must not stop the stream: dead-letter the record
            log.exception("ingest: handling record %d from %s failed", index, origin.source)
            reason = RejectionReason(
                field=None, rule="handler_error", message=f"{type(exc).__name__}: {exc}"
            )
            result, routed = InvalidRecord(record_id=None, reasons=(reason,)), None
        if routed is not None:
            event, topic, destination = routed
            await self._publish(event, topic, event.record_id.encode())
            self._metrics.accepted(destination)
            return None
        assert isinstance(result, InvalidRecord)
        rejected = Rejected(index=index, record_id=result.record_id, reasons=result.reasons)
        await self._reject(rejected, original, origin, event_id)
        return rejected

    def _routed(
        self, record: ValidRecord, event_id: UUID
    ) -> tuple[RecordIngested | PredictionRequested, str, Destination]:
        """The event for an accepted record, its topic, and its destination label."""
        fields = {
            "event_id": event_id,
            "record_id": record.record_id,
            "dataset": self._spec.name,
            "features": record.features,
        }
        if record.labelled:
            return RecordIngested(**fields, target=record.target), self._topics.records, "training"
        request = PredictionRequested(**fields)
        return request, self._topics.predict_requests, "prediction"

    async def _reject(
        self, rejected: Rejected, original: str, origin: Origin, event_id: UUID
    ) -> None:
        event = RecordRejected(
            event_id=event_id,
            record_id=rejected.record_id,
            source=origin.source,
            partition=origin.partition,
            offset=origin.offset,
            original=_bounded(original),
            reasons=_bounded_reasons(rejected.reasons),
        )
        key = rejected.record_id.encode() if rejected.record_id is not None else None
        await self._publish(event, self._topics.rejected, key)
        self._metrics.rejected()
        log.debug("ingest: rejected record %s: %s", rejected.record_id, rejected.reasons)


class _EventIds:
    """Event ids for the outputs of one message, in order.

    For a Kafka message they derive from its position and content, so a redelivery after a
    crash republishes the same event ids and consumers can drop the duplicates.
    """

    def __init__(self, origin: Origin, raw: bytes) -> None:
        self._position: str | None = None
        if origin.partition is not None and origin.offset is not None:
            digest = hashlib.sha256(raw).hexdigest()
            self._position = f"{origin.source}/{origin.partition}/{origin.offset}/{digest}"
        self._count = 0

    def next(self) -> UUID:
        self._count += 1
        if self._position is None:
            return uuid4()
        return uuid5(_EVENT_NAMESPACE, f"{self._position}/{self._count}")


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


def _json_text(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (ValueError, RecursionError):  # absurdly deep nesting: a bounded sketch will do
        return reprlib.repr(value)


def _bounded(original: str) -> str:
    if len(original) <= MAX_ORIGINAL_CHARS:
        return original
    cut = len(original) - MAX_ORIGINAL_CHARS
    return f"{original[:MAX_ORIGINAL_CHARS]}...[{cut} more characters cut]"


def _bounded_reasons(reasons: tuple[RejectionReason, ...]) -> tuple[RejectionReason, ...]:
    if len(reasons) <= MAX_REASONS:
        return reasons
    more = len(reasons) - (MAX_REASONS - 1)
    summary = RejectionReason(field=None, rule="truncated", message=f"{more} more reasons cut")
    return (*reasons[: MAX_REASONS - 1], summary)
