"""The events a registration produces, built once and kept in the outbox until published."""

from __future__ import annotations

from contracts import ModelCard, ModelEvent, ModelPromoted, ModelRegistered
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
            ModelPromoted(
                model_name=card.model_name,
                version=version,
                sha256=sha256,
                alias=CHAMPION,
                previous_version=previous_champion,
                reason=decision.reason,
            )
        )
    return events
