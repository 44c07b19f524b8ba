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
from typing import TYPE_CHECKING, Any, Literal
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
)
from contracts.text import lone_surrogate_path, may_hold_surrogate
from services.ingest.dedup import SeenIds
from services.ingest.validation import InvalidRecord, ValidRecord, decode_json, validate_record

if TYPE_CHECKING:
    from contracts import SpecRetired
    from services.common.spec_catalogue import SpecCatalogue
    from services.ingest.dedup import RoutingKey
    from services.ingest.metrics import Destination, IngestMetrics

log = logging.getLogger(__name__)

# Hands one event (and its JSON, serialised once per record while planning) to the producer and
# returns what to await for its acknowledgement (None when it is already acknowledged): a batch
# is sent without waiting for each event.
Send = Callable[[Envelope, bytes, str, bytes | None], Awaitable[Awaitable[object] | None]]

# An event must fit in a Kafka message (message.max.bytes, 1 MiB by default) with its key and
# headers; a record whose event would not is dead-lettered alone (dead-letter events are bounded
# by construction, contracts.RecordRejected).
MAX_EVENT_BYTES = 1_000_000
_EVENT_NAMESPACE = UUID("6f1c3a4e-25b1-4c55-9a53-6d0f1e0b8c21")
Kind = Literal["accepted", "rejected", "duplicate"]
# An unknown data set's dead-letter reason lists at most this many of the known ones.
MAX_NAMES_LISTED = 10


@dataclass(frozen=True)
class Origin:
    """Where a message came from: a topic partition and offset, or 'http'."""

    source: str
    partition: int | None = None
    offset: int | None = None


@dataclass(frozen=True)
class Message:
    """A raw message, and the data set it names (None: the catalogue's default)."""

    raw: bytes
    origin: Origin
    dataset: str | None = None


@dataclass(frozen=True)
class Rejected:
    index: int
    record_id: str | None
    reasons: tuple[RejectionReason, ...]


@dataclass
class Outcome:
    """What happened to the records of one message, of which data set (None: not known)."""

    accepted: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    duplicates: list[Rejected] = field(default_factory=list)
    dataset: str | None = None


@dataclass(frozen=True)
class _Output:
    """One event to publish, and how it counts once acknowledged."""

    event: Envelope
    body: bytes  # the event's JSON
    topic: str
    key: bytes | None
    kind: Kind | None  # None: a second version of an event already counted
    destination: Destination | None = None


class Ingestor:
    """Validates the records of messages and publishes each one to its topic.

    Each message is validated against the current spec of the data set it names, from
    `catalogue` (the default when it names none); every record of a message that names an
    unknown data set is dead-lettered with the rule 'dataset', and of one that names a retired
    data set with the rule 'retired'.

    A batch is validated first, then all its events are sent at once and awaited together.
    Decoding, validating, serialising and sizing happen per record while planning, so a record
    that fails any of them is dead-lettered alone, with its reason, and never fails its batch.
    Publish errors propagate: the caller must not commit the input (Kafka) or must answer
    with an error (HTTP), so that nothing is lost.
    A valid record whose id was routed within the horizon of `seen`, labelled as it is now or
    unlabelled as it is now, is a duplicate: it is dead-lettered with the rule 'duplicate' and
    counted as such, never routed twice; ids are per data set. A redelivery of the same Kafka
    message (after a rebalance) is not a duplicate: it is routed again under its first event
    id. The label of a record routed without one is its late label, not a duplicate. Only
    explicit ids count: a record without one gets a fresh id, and is never a duplicate.
    """

    def __init__(
        self,
        catalogue: SpecCatalogue,
        topics: Topics,
        send: Send,
        metrics: IngestMetrics,
        seen: SeenIds | None = None,
        *,
        records_v2_topic: str | None = None,
        max_event_bytes: int = MAX_EVENT_BYTES,
    ) -> None:
        self._catalogue = catalogue
        self._topics = topics
        self._send = send
        self._metrics = metrics
        for dataset in catalogue.names():
            metrics.export(dataset)
        catalogue.on_change(lambda now, _: metrics.export(now.dataset))
        self._seen = seen if seen is not None else SeenIds(horizon_seconds=0, max_ids=1)
        # Where RecordIngestedV2 goes beside v1 (contracts.v2); None publishes v1 only.
        self._records_v2_topic = records_v2_topic
        self._max_event_bytes = max_event_bytes
        # Kafka batches and HTTP bodies take turns, so a duplicate is seen whatever its path.
        self._lock = asyncio.Lock()

    async def ingest(self, raw: bytes, origin: Origin, dataset: str | None = None) -> Outcome:
        """Handle one message: a JSON object, or a JSON array whose elements are records."""
        [outcome] = await self.ingest_batch([Message(raw, origin, dataset)])
        return outcome

    async def ingest_batch(self, messages: Sequence[Message]) -> list[Outcome]:
        """Handle messages in order; returns once every output event is acknowledged."""
        async with self._lock:
            routed: dict[RoutingKey, UUID] = {}  # records accepted in this batch -> event ids
            planned = [self._plan(message, routed) for message in messages]
            outputs = [output for _, message_outputs in planned for output in message_outputs]
            await self._publish_all(outputs)
            self._seen.remember(routed)
            counts = Counter(
                (outcome.dataset, o.kind, o.destination)
                for outcome, message_outputs in planned
                for o in message_outputs
                if o.kind is not None
            )
            for (dataset, kind, destination), count in counts.items():
                self._metrics.count(kind, dataset, destination, count)
            return [outcome for outcome, _ in planned]

    async def _publish_all(self, outputs: list[_Output]) -> None:
        pending: list[Awaitable[object]] = []
        try:
            for output in outputs:
                acknowledgement = await self._send(
                    output.event, output.body, output.topic, output.key
                )
                if acknowledgement is not None:
                    pending.append(acknowledgement)
        except BaseException:
            await asyncio.gather(*pending, return_exceptions=True)  # none left unretrieved
            raise
        await asyncio.gather(*pending)

    async def dead_letter(self, message: Message, error: BaseException) -> None:
        """Dead-letter `message` alone because handling it failed with `error` (the last resort
        of services.common.poison); returns once the broker has acknowledged it."""
        reason = RejectionReason(
            field=None, rule="unhandled", message=f"{type(error).__name__}: {error}"
        )
        rejected = Rejected(index=0, record_id=None, reasons=(reason,))
        event_id = _EventIds(message.origin, message.raw).next()
        output = self._rejection(rejected, _text(message.raw), message.origin, event_id, "rejected")
        async with self._lock:
            await self._publish_all([output])
        known = self._catalogue.get(message.dataset)
        self._metrics.count("rejected", None if known is None else known.dataset)

    def _plan(
        self, message: Message, routed: dict[RoutingKey, UUID]
    ) -> tuple[Outcome, list[_Output]]:
        """The outcome of one message and the events it turns into; no I/O, never raises."""
        known = self._catalogue.get(message.dataset)  # read once: the spec it is validated by
        retirement = self._catalogue.retirement(message.dataset)
        try:
            if retirement is not None:
                planned = self._dead_letter_all(message, retired_reason(retirement))
            elif known is None:
                planned = self._dead_letter_all(message, self._unknown_reason(message))
            else:
                planned = self._plan_message(message, known.spec, routed)
        except Exception as exc:  # a bug must not fail the batch: dead-letter the message alone
            log.exception("ingest: planning the message from %s failed", message.origin)
            planned = self._refused(message, _handler_error(exc))
        planned[0].dataset = None if known is None else known.dataset
        return planned

    def _unknown_reason(self, message: Message) -> RejectionReason:
        return unknown_dataset_reason(message.dataset or "", self._catalogue.names())

    def _dead_letter_all(
        self, message: Message, reason: RejectionReason
    ) -> tuple[Outcome, list[_Output]]:
        """Every record of a message, dead-lettered for `reason` (unknown or retired data set)."""
        decoded = decode_json(message.raw)
        if not isinstance(decoded, list):  # one record, or not JSON: the message as a whole
            return self._refused(message, reason)
        outcome, outputs = Outcome(), []
        event_ids = _EventIds(message.origin, message.raw)
        for index, item in enumerate(decoded):
            rejected = Rejected(index=index, record_id=None, reasons=(reason,))
            outcome.rejected.append(rejected)
            original, event_id = _json_text(item), event_ids.next()
            outputs.append(
                self._rejection(rejected, original, message.origin, event_id, "rejected")
            )
        return outcome, outputs

    def _plan_message(
        self, message: Message, spec: DatasetSpec, routed: dict[RoutingKey, UUID]
    ) -> tuple[Outcome, list[_Output]]:
        origin, raw = message.origin, message.raw
        decoded = decode_json(raw)
        if isinstance(decoded, RejectionReason):
            return self._refused(message, decoded)
        is_array = isinstance(decoded, list)
        items = decoded if is_array else [decoded]
        # Text that is not Unicode is refused here, at decode time: nothing could encode it later.
        surrogates = may_hold_surrogate(raw)
        if surrogates and not is_array and (path := lone_surrogate_path(decoded)) is not None:
            return self._refused(message, _not_unicode(path))
        outcome, outputs = Outcome(), []
        event_ids = _EventIds(origin, raw)
        for index, item in enumerate(items):
            # An array element is a record of its own: its own JSON is its original.
            original = _json_text(item) if is_array else _text(raw)
            record = _Record(item, index, original, origin, event_ids.next(), spec)
            if surrogates and (path := lone_surrogate_path(item, f"$[{index}]")) is not None:
                outputs.append(self._reject(record, None, (_not_unicode(path),), outcome))
                continue
            outputs.extend(self._plan_record(record, routed, outcome))
        return outcome, outputs

    def _refused(self, message: Message, reason: RejectionReason) -> tuple[Outcome, list[_Output]]:
        """A whole message refused for one reason."""
        rejected = Rejected(index=0, record_id=None, reasons=(reason,))
        event_id = _EventIds(message.origin, message.raw).next()
        raw_text, origin = _text(message.raw), message.origin
        output = self._rejection(rejected, raw_text, origin, event_id, "rejected")
        return Outcome(rejected=[rejected]), [output]

    def _plan_record(
        self, record: _Record, routed: dict[RoutingKey, UUID], outcome: Outcome
    ) -> list[_Output]:
        try:
            # A record without an id takes its first event's id: fresh for every record, and
            # the same again when a Kafka message is redelivered (see _EventIds).
            result = validate_record(record.item, record.spec, fresh_id=str(record.event_id))
            if isinstance(result, ValidRecord):
                return self._accept(result, record, routed, outcome)
        except _Unpublishable as exc:  # its event cannot be serialised or is too large
            result = InvalidRecord(record_id=exc.record_id, reasons=(exc.reason,))
        except Exception as exc:  # a bug must not stop the stream: dead-letter the record
            log.exception("ingest: handling record %d from %s failed", record.index, record.source)
            result = InvalidRecord(record_id=None, reasons=(_handler_error(exc),))
        return [self._reject(record, result.record_id, result.reasons, outcome)]

    def _reject(
        self,
        record: _Record,
        record_id: str | None,
        reasons: tuple[RejectionReason, ...],
        outcome: Outcome,
    ) -> _Output:
        rejected = Rejected(index=record.index, record_id=record_id, reasons=reasons)
        outcome.rejected.append(rejected)
        origin, event_id = record.origin, record.event_id
        return self._rejection(rejected, record.original, origin, event_id, "rejected")

    def _accept(
        self, valid: ValidRecord, record: _Record, routed: dict[RoutingKey, UUID], outcome: Outcome
    ) -> list[_Output]:
        # Only an id the sender chose can repeat: a generated one is never looked up or kept.
        explicit = not valid.generated_id
        key = (record.spec.name, valid.record_id, valid.labelled)
        earlier = self._earlier_event_id(key, routed) if explicit and self._seen.enabled else None
        if earlier is not None and earlier != record.event_id:
            reason = RejectionReason(
                field=record.spec.record_id_field,
                rule="duplicate",
                message=f"record id {valid.record_id!r:.80} was already routed recently",
            )
            duplicate = Rejected(index=record.index, record_id=valid.record_id, reasons=(reason,))
            outcome.duplicates.append(duplicate)
            origin, event_id = record.origin, record.event_id
            return [self._rejection(duplicate, record.original, origin, event_id, "duplicate")]
        # The same Kafka message read again (same event id): routed again, counted once.
        kind: Kind | None = "accepted" if earlier is None else None
        event, topic, destination = self._routed(valid, record.event_id, record.spec.name)
        event_key = valid.record_id.encode()
        outputs = [self._output(event, topic, event_key, kind, destination, valid.record_id)]
        if self._records_v2_topic is not None and isinstance(event, RecordIngested):
            v2 = RecordIngestedV2(
                **event.model_dump(exclude={"kind"}),
                imputed=valid.imputed,
                source=record.origin.source,
                partition=record.origin.partition,
                offset=record.origin.offset,
            )
            topic_v2 = self._records_v2_topic
            outputs.append(self._output(v2, topic_v2, event_key, None, None, valid.record_id))
        if explicit:  # only once every event of the record is publishable
            routed[key] = record.event_id
        outcome.accepted += 1
        return outputs

    def _earlier_event_id(self, key: RoutingKey, routed: dict[RoutingKey, UUID]) -> UUID | None:
        """The event id a record was routed with before: in this batch, or within the horizon."""
        return routed.get(key) or self._seen.routed_as(key)

    def _output(
        self,
        event: Envelope,
        topic: str,
        key: bytes,
        kind: Kind | None,
        destination: Destination | None,
        record_id: str,
    ) -> _Output:
        """`event` serialised, or _Unpublishable when it cannot be or is too large to send."""
        try:
            body = event.model_dump_json().encode()
        except Exception as exc:
            reason = RejectionReason(
                field=None,
                rule="serialise",
                message=f"the {event.__class__.__name__} event "
                f"could not be serialised: {type(exc).__name__}: {exc}",
            )
            raise _Unpublishable(record_id, reason) from exc
        if len(body) + len(key) > self._max_event_bytes:
            reason = RejectionReason(
                field=None,
                rule="size",
                message=f"its {event.__class__.__name__} event of "
                f"{len(body) + len(key)} bytes is over the {self._max_event_bytes}-byte limit",
            )
            raise _Unpublishable(record_id, reason)
        return _Output(event, body, topic, key, kind, destination)

    def _routed(
        self, record: ValidRecord, event_id: UUID, dataset: str
    ) -> tuple[RecordIngested | PredictionRequested, str, Destination]:
        """The event for an accepted record, its topic, and its destination label."""
        fields = {
            "event_id": event_id,
            "record_id": record.record_id,
            "dataset": dataset,
            "features": record.features,
        }
        if record.labelled:
            return RecordIngested(**fields, target=record.target), self._topics.records, "training"
        request = PredictionRequested(**fields)
        return request, self._topics.predict_requests, "prediction"

    def _rejection(
        self, rejected: Rejected, original: str, origin: Origin, event_id: UUID, kind: Kind
    ) -> _Output:
        # Bounded by construction (contracts.RecordRejected): it always serialises and fits.
        event = RecordRejected(
            event_id=event_id,
            record_id=rejected.record_id,
            source=origin.source,
            partition=origin.partition,
            offset=origin.offset,
            original=original,
            reasons=rejected.reasons,
        )
        key = event.record_id.encode() if event.record_id is not None else None
        body = event.model_dump_json().encode()
        return _Output(event, body, self._topics.rejected, key, kind)


@dataclass(frozen=True)
class _Record:
    """One decoded record of a message, with what its dead-letter event needs."""

    item: object
    index: int
    original: str
    origin: Origin
    event_id: UUID
    spec: DatasetSpec  # of the message's data set

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


class _Unpublishable(Exception):
    """A valid record whose event cannot be published: it is dead-lettered instead."""

    def __init__(self, record_id: str, reason: RejectionReason) -> None:
        super().__init__(reason.message)
        self.record_id = record_id
        self.reason = reason


def _handler_error(exc: Exception) -> RejectionReason:
    return RejectionReason(field=None, rule="handler_error", message=f"{type(exc).__name__}: {exc}")


def unknown_dataset_reason(name: str, known: Sequence[str]) -> RejectionReason:
    """The reason for a data set not known; the name is cut, and so is the list (bounded)."""
    listed = ", ".join(known[:MAX_NAMES_LISTED])
    if len(known) > MAX_NAMES_LISTED:
        listed += f" and {len(known) - MAX_NAMES_LISTED} more"
    message = f"unknown data set {name!r:.80}; known: {listed}"
    return RejectionReason(field=None, rule="dataset", message=message)


def retired_reason(retirement: SpecRetired) -> RejectionReason:
    """The reason for a record of a retired data set: since when and why."""
    since = retirement.retired_at.isoformat(timespec="seconds")
    message = f"data set {retirement.dataset!r} retired since {since}: {retirement.reason}"
    return RejectionReason(field=None, rule="retired", message=message)


def _not_unicode(path: str) -> RejectionReason:
    return RejectionReason(
        field=path,
        rule="unicode",
        message="text is not valid Unicode (a lone surrogate escape such as \\ud800)",
    )
