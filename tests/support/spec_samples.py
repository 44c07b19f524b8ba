"""Small dataset specs for spec tests (a regression, a classification) and announcements."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from contracts import DatasetSpec, SpecRegistered, SpecRetired, spec_sha256


def rentals(**changes: Any) -> DatasetSpec:
    """A regression spec; `changes` replace its top-level fields (as JSON-able values)."""
    body: dict[str, Any] = {
        "name": "rentals",
        "target": {"name": "rent", "min": 0, "max": 10_000},
        "features": [
            {"name": "area", "type": "numeric", "min": 10, "max": 500},
            {"name": "rooms", "type": "integer", "min": 1, "max": 10},
            {"name": "district", "type": "categorical", "categories": ["north", "south"]},
        ],
    }
    return DatasetSpec.model_validate({**body, **changes})


def churn(classes: tuple[str, ...] = ("stay", "leave")) -> DatasetSpec:
    return DatasetSpec.model_validate(
        {
            "name": "churn",
            "target": {"task": "classification", "name": "outcome", "classes": list(classes)},
            "features": [{"name": "tenure", "type": "integer", "min": 0}],
        }
    )


def with_feature(spec: DatasetSpec, feature: dict[str, Any]) -> DatasetSpec:
    """`spec` with `feature` replacing the one of the same name, or added at the end."""
    features = [f.model_dump() for f in spec.features if f.name != feature["name"]]
    return DatasetSpec.model_validate({**spec.model_dump(), "features": [*features, feature]})


def registered(spec: DatasetSpec, version: int = 1, major: int = 1) -> SpecRegistered:
    """The registry's announcement of `spec` as this version."""
    return SpecRegistered(
        dataset=spec.name,
        version=version,
        major=major,
        spec=spec,
        sha256=spec_sha256(spec),
        registered_at=datetime.now(UTC),
    )


def retired(name: str, version: int = 1, reason: str = "replaced by rentals-v2") -> SpecRetired:
    """The registry's announcement that data set `name` is retired at this version."""
    return SpecRetired(
        dataset=name, version=version, reason=reason, retired_at=datetime(2026, 12, 7, tzinfo=UTC)
    )
