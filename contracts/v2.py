"""Version 2 of RecordIngested, published beside v1 (never instead of it).

v2 adds where the record came from and which features took the spec's imputed value. It goes
to a topic of its own, so v1 consumers (which refuse unknown fields) never see it; both
versions of one record carry the same event id. A consumer that moves to v2 reads either
version through RECORD_INGESTED_ANY and upgrades v1 events with `as_v2`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from contracts.events import Envelope, Features, RecordIngested, TargetValue
from contracts.topics import RECORDS, Topics

RECORDS_V2 = "ingest.records.v2"


def records_v2_topic(topics: Topics) -> str:
    """The v2 topic of a deployment: the same prefix as its v1 records topic."""
    return topics.records.removesuffix(RECORDS) + RECORDS_V2


class RecordIngestedV2(Envelope):
    """A validated, normalised record, with its origin and the features that were imputed."""

    kind: Literal["record.ingested.v2"] = "record.ingested.v2"
    record_id: str
    dataset: str
    features: Features
    target: TargetValue = None
    imputed: tuple[str, ...] = Field(
        default=(), description="features that were missing or null and took the spec's value"
    )
    source: str = Field(description="topic name, or 'http' for POST /records")
    partition: int | None = None
    offset: int | None = None

    @classmethod
    def from_v1(cls, event: RecordIngested, *, source: str = "unknown") -> RecordIngestedV2:
        """A v1 event seen as v2 (same event id: it is the same event)."""
        return cls(
            event_id=event.event_id,
            occurred_at=event.occurred_at,
            record_id=event.record_id,
            dataset=event.dataset,
            features=event.features,
            target=event.target,
            source=source,
        )

    def to_v1(self) -> RecordIngested:
        """The v1 event of the same record, as v1 consumers expect it (same event id)."""
        return RecordIngested(
            event_id=self.event_id,
            occurred_at=self.occurred_at,
            record_id=self.record_id,
            dataset=self.dataset,
            features=self.features,
            target=self.target,
        )


AnyRecordIngested = Annotated[RecordIngested | RecordIngestedV2, Field(discriminator="kind")]
RECORD_INGESTED_ANY: TypeAdapter[AnyRecordIngested] = TypeAdapter(AnyRecordIngested)


def as_v2(event: RecordIngested | RecordIngestedV2) -> RecordIngestedV2:
    return event if isinstance(event, RecordIngestedV2) else RecordIngestedV2.from_v1(event)
