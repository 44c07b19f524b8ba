"""The events a registration or an alias change produces, kept in the outbox until published."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import Field, TypeAdapter

from contracts import (
    ModelCard,
    ModelEvent,
    ModelPromoted,
    ModelRefused,
    ModelRegistered,
    ModelRolledBack,
    SpecRegistered,
    SpecRetired,
)
from services.registry.aliases import now
from services.registry.policy import CHAMPION, Decision

if TYPE_CHECKING:
    from collections.abc import Sequence

    from services.registry.sql import Connection

# What the outbox holds: model events (registry.models.v1) and spec events (registry.specs.v1),
# published in the order they were committed.
OutboxEvent = Annotated[
    ModelRegistered | ModelPromoted | ModelRolledBack | ModelRefused | SpecRegistered | SpecRetired,
    Field(discriminator="kind"),
]
OUTBOX_EVENT: TypeAdapter[OutboxEvent] = TypeAdapter(OutboxEvent)


def queue_events(db: Connection, key: str, events: Sequence[OutboxEvent]) -> None:
    """Add `events` to the outbox in the caller's transaction; `key`: model or data set name."""
    for event in events:
        db.run(
            # `model_name` holds the event's key: a model's name, or a data set's for a spec.
            "INSERT INTO outbox (model_name, event, created_at) VALUES (?, ?, ?)",
            (key, OUTBOX_EVENT.dump_json(event).decode(), now()),
        )


def registration_events(
    card: ModelCard,
    version: int,
    sha256: str,
    decision: Decision,
    previous_champion: int | None,
) -> list[ModelEvent]:
    """ModelRegistered, then ModelPromoted when the version took the champion alias."""
    events: list[ModelEvent] = [
        ModelRegistered(
            model_name=card.model_name, version=version, sha256=sha256, metrics=card.metrics
        )
    ]
    if decision.promoted:
        events.append(
            promotion_event(card.model_name, version, sha256, previous_champion, decision.reason)
        )
    return events


def promotion_event(
    name: str, version: int, sha256: str, previous: int | None, reason: str
) -> ModelPromoted:
    return ModelPromoted(
        model_name=name,
        version=version,
        sha256=sha256,
        alias=CHAMPION,
        previous_version=previous,
        reason=reason,
    )


def rollback_event(
    name: str, version: int, sha256: str, previous: int, reason: str
) -> ModelRolledBack:
    return ModelRolledBack(
        model_name=name,
        version=version,
        sha256=sha256,
        alias=CHAMPION,
        previous_version=previous,
        reason=reason,
    )
