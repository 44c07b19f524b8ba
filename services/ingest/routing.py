"""Where each record goes after validation; one code path for Kafka messages and HTTP bodies.

Labelled records go to the training topic, unlabelled ones to the prediction requests, and
everything that cannot be accepted to the dead-letter topic with all its reasons.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import reprlib
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from uuid import UUID, uuid4, uuid5

from contracts import (
    DatasetSpec,
    Envelope,
    PredictionRequested,
    RecordIngested,
    RecordIngestedV2,
    RecordRejected,
    RejectionReason,
    Topics,
    bounded_original,
)
from services.ingest.dedup import SeenIds
from services.ingest.metrics import Destination, IngestMetrics
from services.ingest.validation import InvalidRecord, ValidRecord, decode_json, validate_record

log = logging.getLogger(__name__)

# Hands one event to the producer and returns what to await for its acknowledgement (None when
# it is already acknowledged): a batch is sent without waiting for each event.
Send = Callable[[Envelope, str, bytes | None], Awaitable[Awaitable[object] | None]]

# Bounds on a dead-letter event's reasons, as contracts.bounded_original bounds its original:
# it must always fit in a Kafka message, or its publish would fail on every retry.
MAX_REASONS = 200
_EVENT_NAMESPACE = UUID("6f1c3a4e-25b1-4c55-9a53-6d0f1e0b8c21")
Kind = Literal["accepted", "rejected", "duplicate"]


@dataclass(frozen=True)
class Origin:
    """Where a message came from: a topic partition and offset, or 'http'."""

    source: str
    partition: int | None = None
    offset: int | None = None


@dataclass(frozen=True)
class Message:
    raw: bytes
    origin: Origin


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
    duplicates: list[Rejected] = field(default_factory=list)


@dataclass(frozen=True)
class _Output:
    """One event to publish, and how it counts once acknowledged."""

    event: Envelope
    topic: str
    key: bytes | None
    kind: Kind | None  # None: a second version of an event already counted
    destination: Destination | None = None


class Ingestor:
    """Validates the records of messages and publishes each one to its topic.

    A batch is validated first, then all its events are sent at once and awaited together.
    Publish errors propagate: the caller must not commit the input (Kafka) or must answer
    with an error (HTTP), so that nothing is lost. Any other error dead-letters the record.
    A valid record whose id was routed within the horizon of `seen` is a duplicate: it is
    dead-lettered with the rule 'duplicate' and counted as such, never routed twice. Only
    explicit ids count: a record without one gets a fresh id, and is never a duplicate.
    """

    def __init__(
        self,
        spec: DatasetSpec,
        topics: Topics,
        send: Send,
        metrics: IngestMetrics,
        seen: SeenIds | None = None,
        *,
        records_v2_topic: str | None = None,
    ) -> None:
        self._spec = spec
        self._topics = topics
        self._send = send
        self._metrics = metrics
        self._seen = seen if seen is not None else SeenIds(horizon_seconds=0, max_ids=1)
        # Where RecordIngestedV2 goes beside v1 (contracts.v2); None publishes v1 only.
        self._records_v2_topic = records_v2_topic
        # Kafka batches and HTTP bodies take turns, so a duplicate is seen whatever its path.
        self._lock = asyncio.Lock()

    async def ingest(self, raw: bytes, origin: Origin) -> Outcome:
        """Handle one message: a JSON object, or a JSON array whose elements are records."""
        [outcome] = await self.ingest_batch([Message(raw, origin)])
        return outcome

    async def ingest_batch(self, messages: Sequence[Message]) -> list[Outcome]:
        """Handle messages in order; returns once every output event is acknowledged."""
        async with self._lock:
            routed: dict[str, None] = {}  # ids accepted in this batch, in order
            planned = [self._plan(message, routed) for message in messages]
            outputs = [output for _, message_outputs in planned for output in message_outputs]
            await self._publish_all(outputs)
            self._seen.remember(routed)
            counts = Counter((o.kind, o.destination) for o in outputs if o.kind is not None)
            for (kind, destination), count in counts.items():
                self._metrics.count(kind, destination, count)
            return [outcome for outcome, _ in planned]

    async def _publish_all(self, outputs: list[_Output]) -> None:
        pending: list[Awaitable[object]] = []
        try:
            for output in outputs:
                acknowledgement = await self._send(output.event, output.topic, output.key)
                if acknowledgement is not None:
                    pending.append(acknowledgement)
        except BaseException:
            await asyncio.gather(*pending, return_exceptions=True)  # none left unretrieved
            raise
        await asyncio.gather(*pending)

    def _plan(self, message: Message, routed: dict[str, None]) -> tuple[Outcome, list[_Output]]:
        """The outcome of one message and the events it turns into; no I/O."""
        outcome = Outcome()
        origin, raw = message.origin, message.raw
        event_ids = _EventIds(origin, raw)
        decoded = decode_json(raw)
        if isinstance(decoded, RejectionReason):
            rejected = Rejected(index=0, record_id=None, reasons=(decoded,))
            outcome.rejected.append(rejected)
            output = self._rejection(rejected, _text(raw), origin, event_ids.next(), "rejected")
            return outcome, [output]
        is_array = isinstance(decoded, list)
        outputs = []
        for index, item in enumerate(decoded if is_array else [decoded]):
            # An array element is a record of its own: its own JSON is its original.
            original = _json_text(item) if is_array else _text(raw)
            record = _Record(item, index, original, origin, event_ids.next())
            outputs.extend(self._plan_record(record, routed, outcome))
        return outcome, outputs

    def _plan_record(
        self, record: _Record, routed: dict[str, None], outcome: Outcome
    ) -> list[_Output]:
        try:
            # A record without an id takes its first event's id: fresh for every record, and
            # the same again when a Kafka message is redelivered (see _EventIds).
            result = validate_record(record.item, self._spec, fresh_id=str(record.event_id))
            if isinstance(result, ValidRecord):
                return self._accept(result, record, routed, outcome)
        except Exception as exc:  # a bug must not stop the stream: dead-letter the record
            log.exception("ingest: handling record %d from %s failed", record.index, record.source)
            reason = RejectionReason(
                field=None, rule="handler_error", message=f"{type(exc).__name__}: {exc}"
            )
            result = InvalidRecord(record_id=None, reasons=(reason,))
        rejected = Rejected(index=record.index, record_id=result.record_id, reasons=result.reasons)
        outcome.rejected.append(rejected)
        origin, event_id = record.origin, record.event_id
        return [self._rejection(rejected, record.original, origin, event_id, "rejected")]

    def _accept(
        self, valid: ValidRecord, record: _Record, routed: dict[str, None], outcome: Outcome
    ) -> list[_Output]:
        seen = self._seen
        # Only an id the sender chose can repeat: a generated one is never looked up or kept.
        explicit = not valid.generated_id
        if (
            explicit
            and seen.enabled
            and (valid.record_id in routed or seen.contains(valid.record_id))
        ):
            reason = RejectionReason(
                field=self._spec.record_id_field,
                rule="duplicate",
                message=f"record id {valid.record_id!r:.80} was already routed recently",
            )
            duplicate = Rejected(index=record.index, record_id=valid.record_id, reasons=(reason,))
            outcome.duplicates.append(duplicate)
            origin, event_id = record.origin, record.event_id
            return [self._rejection(duplicate, record.original, origin, event_id, "duplicate")]
        event, topic, destination = self._routed(valid, record.event_id)
        if explicit:
            routed[valid.record_id] = None
        outcome.accepted += 1
        key = valid.record_id.encode()
        outputs = [_Output(event, topic, key, "accepted", destination)]
        if self._records_v2_topic is not None and isinstance(event, RecordIngested):
            v2 = RecordIngestedV2(
                **event.model_dump(exclude={"kind"}),
                imputed=valid.imputed,
                source=record.origin.source,
                partition=record.origin.partition,
                offset=record.origin.offset,
            )
            outputs.append(_Output(v2, self._records_v2_topic, key, None))
        return outputs

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

    def _rejection(
        self, rejected: Rejected, original: str, origin: Origin, event_id: UUID, kind: Kind
    ) -> _Output:
        event = RecordRejected(
            event_id=event_id,
            record_id=rejected.record_id,
            source=origin.source,
            partition=origin.partition,
            offset=origin.offset,
            original=bounded_original(original),
            reasons=_bounded_reasons(rejected.reasons),
        )
        key = rejected.record_id.encode() if rejected.record_id is not None else None
        return _Output(event, self._topics.rejected, key, kind)


@dataclass(frozen=True)
class _Record:
    """One decoded record of a message, with what its dead-letter event needs."""

    item: object
    index: int
    original: str
    origin: Origin
    event_id: UUID

    @property
    def source(self) -> str:
        return self.origin.source


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


def _bounded_reasons(reasons: tuple[RejectionReason, ...]) -> tuple[RejectionReason, ...]:
    if len(reasons) <= MAX_REASONS:
        return reasons
    more = len(reasons) - (MAX_REASONS - 1)
    summary = RejectionReason(field=None, rule="truncated", message=f"{more} more reasons cut")
    return (*reasons[: MAX_REASONS - 1], summary)
