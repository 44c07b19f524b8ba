"""Sample records and settings for the trainer's tests."""

from __future__ import annotations

from typing import Any

from contracts import HOUSE_PRICES, DatasetSpec, RecordIngested
from mlbus.datagen import RecordGenerator
from services.trainer.config import Settings

TOKEN = "trainer-test-token-8e2b6d0f4a1c9e7b3d5f"


def labelled_records(
    count: int, *, spec: DatasetSpec = HOUSE_PRICES, seed: int = 0, prefix: str = "rec"
) -> list[RecordIngested]:
    """`count` labelled records of `spec` from the deterministic generator."""
    generator = RecordGenerator(spec, seed=seed, id_prefix=prefix)
    return [as_event(raw, spec) for raw in generator.records(count)]


def as_event(raw: dict[str, Any], spec: DatasetSpec = HOUSE_PRICES) -> RecordIngested:
    features = {name: raw[name] for name in spec.feature_names}
    return RecordIngested(
        record_id=raw[spec.record_id_field],
        dataset=spec.name,
        features=features,
        target=raw.get(spec.target.name),
    )


def trainer_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"registry_token": TOKEN} | overrides
    return Settings(**values)
