"""Contracts: frozen, tagged, round-trip through JSON, and validated specs."""

from __future__ import annotations

import importlib
import pkgutil
import uuid

import pytest
from pydantic import BaseModel, ValidationError

import contracts
from contracts import (
    HOUSE_PRICES,
    MODEL_EVENT,
    CategoricalFeature,
    DatasetSpec,
    ModelMetrics,
    ModelPromoted,
    ModelRegistered,
    PredictionMade,
    RecordRejected,
    RejectionReason,
    Topics,
)

METRICS = ModelMetrics(rmse=1.0, mae=0.5, r2=0.9, holdout_size=10, parity_max_abs_error=0.0)


def test_events_are_frozen_and_tagged() -> None:
    event = ModelRegistered(model_name="m", version=1, sha256="ab", metrics=METRICS)
    assert event.kind == "model.registered.v1"
    with pytest.raises(ValidationError):
        event.version = 2  # type: ignore[misc]


def test_model_events_round_trip_through_the_discriminated_union() -> None:
    promoted = ModelPromoted(
        model_name="m", version=2, sha256="cd", previous_version=1, reason="better"
    )
    parsed = MODEL_EVENT.validate_json(promoted.model_dump_json())
    assert parsed == promoted
    assert isinstance(parsed, ModelPromoted)


def test_unknown_fields_are_refused() -> None:
    payload = PredictionMade(
        record_id="r",
        request_event_id=uuid.uuid4(),
        model_name="m",
        model_version=1,
        prediction=1.0,
        features={},
    ).model_dump()
    payload["surprise"] = 1
    with pytest.raises(ValidationError, match="surprise"):
        PredictionMade.model_validate(payload)


def test_a_rejection_needs_at_least_one_reason() -> None:
    with pytest.raises(ValidationError):
        RecordRejected(source="t", original="x", reasons=())
    reason = RejectionReason(field="area", rule="min", message="below 100")
    assert RecordRejected(source="t", original="x", reasons=(reason,)).reasons[0].rule == "min"


def test_topic_prefix_applies_to_every_topic() -> None:
    topics = Topics.with_prefix("t1.")
    assert topics.raw == "t1.ingest.raw.v1"
    assert all(name.startswith("t1.") for name in topics.all())
    assert Topics.with_prefix("") == Topics()


def test_house_price_spec_matches_the_design() -> None:
    assert HOUSE_PRICES.target.name == "price"
    assert HOUSE_PRICES.feature_names[:5] == ["area", "bedrooms", "bathrooms", "stories", "parking"]
    furnishing = HOUSE_PRICES.feature("furnishingstatus")
    assert isinstance(furnishing, CategoricalFeature)
    assert furnishing.categories == ("furnished", "semi-furnished", "unfurnished")


def test_specs_refuse_duplicate_names_and_dangling_aliases() -> None:
    with pytest.raises(ValidationError, match="used twice"):
        DatasetSpec.model_validate(
            {
                "name": "d",
                "target": {"name": "y"},
                "features": [{"type": "numeric", "name": "y"}],
            }
        )
    with pytest.raises(ValidationError, match="unknown categories"):
        CategoricalFeature(name="c", categories=("a",), aliases={"x": "b"})


@pytest.mark.parametrize(
    ("feature", "problem"),
    [
        ({"type": "numeric", "name": "a", "impute": 1.0}, "needs nullable"),
        ({"type": "numeric", "name": "a", "nullable": True, "min": 0, "impute": -1}, "outside"),
        ({"type": "numeric", "name": "a", "nullable": True, "impute": "x"}, "not a number"),
        ({"type": "integer", "name": "a", "nullable": True, "impute": 1.5}, "not an integer"),
        ({"type": "boolean", "name": "a", "nullable": True, "impute": 1}, "not a boolean"),
    ],
)
def test_an_imputation_rule_must_fit_its_feature(feature: dict[str, object], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        DatasetSpec.model_validate({"name": "d", "target": {"name": "y"}, "features": [feature]})


def test_imputation_rules_are_optional_and_house_prices_has_none() -> None:
    assert all(f.impute is None for f in HOUSE_PRICES.features)
    spec = DatasetSpec.model_validate(
        {
            "name": "d",
            "target": {"name": "y"},
            "features": [{"type": "boolean", "name": "b", "nullable": True, "impute": False}],
        }
    )
    assert spec.features[0].impute is False


# Metrics as trainers before typed fields wrote them (the last seven keys were untyped extras),
# and a metric a hand-made card added.
OLD_METRICS = {
    "rmse": 2.5,
    "mae": 1.5,
    "r2": 0.8,
    "holdout_size": 40,
    "parity_max_abs_error": 1e-5,
    "parity_max_rel_error": 1e-6,
    "train_size": 160,
    "training_seconds": 0.4,
    "champion_version": 1,
    "champion_rmse": 3.0,
    "parity_tolerance": 1e-3,
    "seed": 7,
    "hyperparameters": {"max_iter": 50, "learning_rate": 0.1, "loss": "squared_error"},
    "snapshot": {"mode": "recent", "since": None, "until": "2026-12-01T00:00:00+00:00"},
    "mape": 0.12,
}


def test_an_old_card_still_loads_with_its_run_typed_and_unknown_metrics_dropped() -> None:
    event = ModelRegistered.model_validate(
        {"model_name": "m", "version": 3, "sha256": "ab", "metrics": OLD_METRICS}
    )
    metrics = event.metrics
    assert metrics.seed == 7
    assert metrics.parity_tolerance == 1e-3
    assert metrics.hyperparameters == OLD_METRICS["hyperparameters"]
    assert metrics.snapshot is not None
    assert metrics.snapshot["mode"] == "recent"
    assert "mape" not in metrics.model_dump()
    assert metrics.model_extra is None  # nothing untyped is carried along
    assert {"rmse": 2.5, "champion_version": 1}.items() <= metrics.model_dump().items()


def test_no_contract_keeps_unknown_keys() -> None:
    """Every pydantic model of contracts/ refuses or drops keys it does not name."""
    models = {
        cls
        for module in pkgutil.iter_modules(contracts.__path__)
        for cls in vars(importlib.import_module(f"contracts.{module.name}")).values()
        if isinstance(cls, type)
        and issubclass(cls, BaseModel)
        and cls.__module__.startswith("contracts")
    }
    assert len(models) > 20
    assert ModelMetrics in models
    keeping = sorted(cls.__name__ for cls in models if cls.model_config.get("extra") == "allow")
    assert keeping == []
