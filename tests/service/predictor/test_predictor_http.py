"""POST /predict on the in-memory broker: ingest's normaliser and reasons, then the champion."""

from __future__ import annotations

from typing import Any

import pytest

from contracts import HOUSE_PRICES, DatasetSpec, PredictionMade
from services.common.settings import KafkaSettings
from services.predictor.config import Settings
from tests.service.predictor.conftest import Predictor
from tests.unit.predictor.predictor_fixtures import FakeRegistry, model_version

# The tiny model's two inputs, and a yes/no feature it does not use, of the house-price spec.
SPEC = DatasetSpec(
    name=HOUSE_PRICES.name,
    target=HOUSE_PRICES.target,
    features=tuple(HOUSE_PRICES.feature(name) for name in ("area", "furnishingstatus", "mainroad")),
)


@pytest.fixture
def settings(topic_prefix: str) -> Settings:
    kafka = KafkaSettings(topic_prefix=topic_prefix, follow_specs=False)  # no specs topic in memory
    return Settings(kafka=kafka, poll_seconds=0.02, spec=SPEC)


@pytest.fixture
async def serving(predictor: Predictor, registry: FakeRegistry, onnx_v1: bytes) -> Predictor:
    registry.promote(model_version(1, onnx_v1), onnx_v1)
    await predictor.wait_for_version(1)
    return predictor


def _record(record_id: str | None = "h1", **features: Any) -> dict[str, Any]:
    values = {"area": 5000.0, "furnishingstatus": "furnished", "mainroad": "yes", **features}
    return (
        {"features": values} if record_id is None else {"record_id": record_id, "features": values}
    )


async def test_post_predict_scores_one_or_many_records_with_the_champion(
    predictor: Predictor, registry: FakeRegistry, onnx_v1: bytes
) -> None:
    one = _record()
    assert (await predictor.http.post("/predict", json=one)).status_code == 503
    registry.promote(model_version(1, onnx_v1), onnx_v1)
    await predictor.wait_for_version(1)

    single = (await predictor.http.post("/predict", json=one)).json()
    many = [one, _record(None, area=9000, furnishingstatus="unfurnished")]
    batch = (await predictor.http.post("/predict", json=many)).json()

    made = PredictionMade.model_validate(single["predictions"][0])
    assert (single["model_version"], made.record_id, made.model_version) == (1, "h1", 1)
    assert len(batch["predictions"]) == 2
    assert batch["predictions"][0]["prediction"] == pytest.approx(made.prediction)
    assert batch["predictions"][1]["record_id"]  # generated id
    assert (await predictor.http.post("/predict", json={"features": 3})).status_code == 422


async def test_spellings_are_normalised_as_ingest_does(serving: Predictor) -> None:
    canonical = (await serving.http.post("/predict", json=_record())).json()["predictions"][0]
    spelt = _record(area="5000", furnishingstatus="  FURNISHED ", mainroad=" Yes")
    answer = (await serving.http.post("/predict", json=spelt)).json()["predictions"][0]
    assert answer["prediction"] == canonical["prediction"]
    # The prediction echoes the normalised features, as a Kafka request's prediction does.
    assert answer["features"] == {
        "area": 5000.0,
        "furnishingstatus": "furnished",
        "mainroad": "yes",
    }
    assert answer["features"] == canonical["features"]


@pytest.mark.parametrize(
    ("features", "expected"),
    [
        ({"area": float("nan")}, [("area", "finite")]),
        ({"area": 1e30}, [("area", "max")]),
        ({"area": "big", "mainroad": "perhaps"}, [("area", "type"), ("mainroad", "category")]),
        ({"furnishingstatus": None}, [("furnishingstatus", "null")]),
        ({"shoe_size": 44}, [("shoe_size", "unknown_field")]),
        ({"price": -1}, [("price", "min")]),
    ],
)
async def test_records_ingest_would_reject_are_refused_with_its_reasons(
    serving: Predictor, features: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    from services.ingest.validation import InvalidRecord, validate_record

    body = [_record("ok"), _record("bad", **features)]
    headers = {"content-type": "application/json"}
    response = await serving.http.post("/predict", content=_json(body), headers=headers)
    assert response.status_code == 422
    [refused] = response.json()["detail"]["rejected"]
    assert (refused["index"], refused["record_id"]) == (1, "bad")
    reasons = [(r["field"], r["rule"]) for r in refused["reasons"]]
    assert reasons == expected
    # The very reasons ingest gives the same record.
    ingested = validate_record({"record_id": "bad", **body[1]["features"]}, SPEC)
    assert isinstance(ingested, InvalidRecord)
    assert [r.model_dump(mode="json") for r in ingested.reasons] == refused["reasons"]


async def test_a_missing_feature_and_an_unusable_record_id_are_reasons(serving: Predictor) -> None:
    body = {"record_id": "", "features": {"area": 5000.0}}
    response = await serving.http.post("/predict", json=body)
    assert response.status_code == 422
    [refused] = response.json()["detail"]["rejected"]
    assert [(r["field"], r["rule"]) for r in refused["reasons"]] == [
        ("record_id", "type"),
        ("furnishingstatus", "required"),
        ("mainroad", "required"),
    ]


async def test_the_spec_id_field_in_features_names_the_record(serving: Predictor) -> None:
    body = _record(None)
    body["features"]["record_id"] = "from-features"
    answer = (await serving.http.post("/predict", json=body)).json()
    assert answer["predictions"][0]["record_id"] == "from-features"


def _json(body: object) -> bytes:
    """JSON with NaN allowed (as Python's json writes it): clients do send it."""
    import json

    return json.dumps(body).encode()


async def test_a_large_request_is_normalised_and_checked_the_same(serving: Predictor) -> None:
    # From OFFLOAD_FROM records on, normalisation runs in a thread: the same answers.
    many = [_record(f"r{i}", area=str(4000 + i), mainroad=" YES ") for i in range(300)]
    answer = (await serving.http.post("/predict", json=many)).json()
    assert len(answer["predictions"]) == 300
    assert {p["features"]["mainroad"] for p in answer["predictions"]} == {"yes"}
    many[150]["features"]["area"] = -1
    refused = await serving.http.post("/predict", json=many)
    assert refused.status_code == 422
    assert [r["index"] for r in refused.json()["detail"]["rejected"]] == [150]
