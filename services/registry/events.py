"""The events a registration or an alias change produces, kept in the outbox until published."""

from __future__ import annotations

from contracts import ModelCard, ModelEvent, ModelPromoted, ModelRegistered, ModelRolledBack
from services.registry.policy import CHAMPION, Decision


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
