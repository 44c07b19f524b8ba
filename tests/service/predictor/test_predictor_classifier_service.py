"""A classifier served on the in-memory broker and over HTTP: ClassificationMade out."""

from __future__ import annotations

import pytest

from contracts import ClassificationMade, PredictionRequested
from services.common.settings import KafkaSettings
from services.predictor.config import Settings
from tests.service.predictor.conftest import Predictor
from tests.support.classifiers import (
    MULTICLASS,
    built_classifier,
    classification_spec,
    classifier_card,
    classifier_version,
    feature_rows,
)
from tests.unit.predictor.predictor_fixtures import FakeRegistry

SPEC = classification_spec(MULTICLASS, name="animals")


@pytest.fixture
def settings(topic_prefix: str) -> Settings:
    kafka = KafkaSettings(topic_prefix=topic_prefix, follow_specs=False)  # no specs topic in memory
    return Settings(kafka=kafka, poll_seconds=0.02, spec=SPEC)


@pytest.fixture
def registry() -> FakeRegistry:
    return FakeRegistry(model_name=SPEC.name)


@pytest.fixture
async def serving(predictor: Predictor, registry: FakeRegistry) -> Predictor:
    built = built_classifier(MULTICLASS)
    card = classifier_card(SPEC, built.classes)
    registry.promote(classifier_version(1, built.onnx, card), built.onnx)
    await predictor.wait_for_version(1)
    return predictor


async def test_requests_become_classifications_with_every_class_probability(
    serving: Predictor,
) -> None:
    rows = feature_rows(30, seed=5)
    requests = [
        PredictionRequested(record_id=f"a{i}", dataset=SPEC.name, features=row)
        for i, row in enumerate(rows)
    ]
    await serving.broker.publish_batch(*requests, topic=serving.topics.predict_requests)

    assert serving.results == []
    assert [c.record_id for c in serving.classified] == [r.record_id for r in requests]
    expected = built_classifier(MULTICLASS).probabilities(rows)
    for request, made, row in zip(requests, serving.classified, expected.tolist(), strict=True):
        assert (made.model_name, made.model_version) == (SPEC.name, 1)
        assert made.request_event_id == request.event_id
        assert made.prediction == MULTICLASS[row.index(max(row))]
        by_class = dict(zip(MULTICLASS, row, strict=True))
        assert made.probabilities == pytest.approx(by_class, abs=1e-5)
    assert serving.rejected == []
    sample = f'mlbus_predictor_predictions_total{{model="{SPEC.name}",version="1"}}'
    assert await serving.metric(sample) == 30


async def test_post_predict_answers_the_class_and_probabilities(serving: Predictor) -> None:
    rows = feature_rows(4)
    rows[0]["colour"] = " RED "  # normalised before it is scored
    records = [{"record_id": f"h{i}", "features": row} for i, row in enumerate(rows)]
    answer = (await serving.http.post("/predict", json=records)).json()

    made = [ClassificationMade.model_validate(p) for p in answer["predictions"]]
    assert [m.record_id for m in made] == ["h0", "h1", "h2", "h3"]
    assert made[0].features["colour"] == "red"
    for result in made:
        assert set(result.probabilities) == set(MULTICLASS)
        assert sum(result.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
        assert result.prediction == max(result.probabilities, key=result.probabilities.__getitem__)
    served = (await serving.http.get("/model")).json()
    assert (served["classes"], served["threshold"]) == (list(MULTICLASS), None)
