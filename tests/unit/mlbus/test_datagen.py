"""The data generator: deterministic, valid for its spec, and drift moves what it names."""

from __future__ import annotations

import statistics

import pytest

from contracts import HOUSE_PRICES, ClassificationTarget, DatasetSpec
from mlbus.datagen import RecordGenerator
from services.ingest.validation import ValidRecord, validate_record


def test_same_seed_same_records() -> None:
    first = list(RecordGenerator(seed=3).records(50))
    assert first == list(RecordGenerator(seed=3).records(50))
    assert first != list(RecordGenerator(seed=4).records(50))


def test_records_respect_the_spec() -> None:
    for record in RecordGenerator(seed=1).records(500):
        assert set(record) == {"record_id", "price", *HOUSE_PRICES.feature_names}
        assert 100 <= record["area"] <= 100_000
        assert record["furnishingstatus"] in {"furnished", "semi-furnished", "unfurnished"}
        assert record["price"] > 0


def test_unlabelled_records_have_no_target() -> None:
    assert "price" not in RecordGenerator(seed=1).record(labelled=False)


def test_drift_shifts_the_named_feature_only() -> None:
    base = list(RecordGenerator(seed=5).records(2000, labelled=False))
    drifted = list(RecordGenerator(seed=5, drift={"area": 0.5}).records(2000, labelled=False))
    assert statistics.mean(r["area"] for r in drifted) > 1.5 * statistics.mean(
        r["area"] for r in base
    )
    assert [r["bedrooms"] for r in drifted] == [r["bedrooms"] for r in base]


def test_price_grows_with_area() -> None:
    records = list(RecordGenerator(seed=2).records(3000))
    small = [r["price"] for r in records if r["area"] < 4000]
    large = [r["price"] for r in records if r["area"] > 9000]
    assert statistics.mean(large) > statistics.mean(small)


def test_any_spec_works() -> None:
    spec = DatasetSpec.model_validate(
        {
            "name": "toy",
            "target": {"name": "y"},
            "features": [
                {"type": "numeric", "name": "x", "min": 0, "max": 1},
                {"type": "boolean", "name": "flag"},
                {"type": "categorical", "name": "c", "categories": ["a", "b"]},
            ],
        }
    )
    record = RecordGenerator(spec, seed=0).record()
    assert 0 <= record["x"] <= 1
    assert isinstance(record["flag"], bool)
    assert record["c"] in "ab"
    assert isinstance(record["y"], float)


def test_drift_of_an_unknown_feature_is_refused() -> None:
    with pytest.raises(ValueError, match="nope"):
        RecordGenerator(drift={"nope": 1.0})


def test_a_classification_spec_gets_every_class_and_records_ingest_accepts() -> None:
    features = [
        {"type": "numeric", "name": "x", "min": 0, "max": 1},
        {"type": "integer", "name": "n", "min": 0, "max": 9},
        {"type": "categorical", "name": "c", "categories": ["a", "b"]},
    ]
    target = {"task": "classification", "name": "kind", "classes": ["p", "q", "r"]}
    spec = DatasetSpec.model_validate(
        {"name": "toy-classes", "target": target, "features": features}
    )
    assert isinstance(spec.target, ClassificationTarget)
    records = list(RecordGenerator(spec, seed=0).records(1000))
    counts = {kind: sum(r["kind"] == kind for r in records) for kind in ("p", "q", "r")}
    assert sum(counts.values()) == 1000
    assert min(counts.values()) > 50, counts  # every class turns up, none is a sliver
    assert all(isinstance(validate_record(r, spec), ValidRecord) for r in records[:100])
