"""Ingest with a classification spec: class names to training, unlabelled records to
prediction, unknown classes dead-lettered with their reason, duplicates caught as ever."""

from __future__ import annotations

import json
from typing import Any

from prometheus_client import CollectorRegistry

from contracts import (
    CategoricalFeature,
    ClassificationTarget,
    DatasetSpec,
    NumericFeature,
    PredictionRequested,
    RecordIngested,
    RecordIngestedV2,
    RecordRejected,
    Topics,
    records_v2_topic,
)
from services.common.spec_catalogue import SpecCatalogue
from services.ingest.dedup import SeenIds
from services.ingest.metrics import IngestMetrics
from services.ingest.routing import Ingestor, Origin
from tests.support.sent_events import Recorder

TOPICS = Topics.with_prefix("unit-cls.")
KAFKA = Origin(source=TOPICS.raw, partition=0, offset=7)
CHURN = DatasetSpec(
    name="churn",
    target=ClassificationTarget(
        name="churned", classes=("no", "yes"), aliases={"y": "yes", "n": "no"}
    ),
    features=(
        NumericFeature(name="tenure", min=0),
        CategoricalFeature(name="plan", categories=("basic", "pro")),
    ),
)
GRADES = DatasetSpec(
    name="grades",
    target=ClassificationTarget(name="grade", classes=("1", "2", "3")),
    features=(NumericFeature(name="x"),),
)


def _ingestor(spec: DatasetSpec, sent: Recorder, *, horizon: float = 0.0) -> Ingestor:
    metrics = IngestMetrics(CollectorRegistry())
    seen = SeenIds(horizon_seconds=horizon, max_ids=100)
    v2 = records_v2_topic(TOPICS)
    return Ingestor(SpecCatalogue(spec), TOPICS, sent, metrics, seen, records_v2_topic=v2)


def _churn(record_id: str, label: object = None, **more: Any) -> dict[str, Any]:
    record = {"record_id": record_id, "tenure": 3, "plan": "pro", **more}
    return record if label is None else {**record, "churned": label}


async def test_labels_go_to_training_as_class_names_and_the_rest_to_prediction() -> None:
    sent = Recorder()
    records = [_churn("a", " Yes "), _churn("b", "n"), _churn("c"), _churn("d", None, churned=None)]
    outcome = await _ingestor(CHURN, sent).ingest(json.dumps(records).encode(), KAFKA)
    assert (outcome.accepted, outcome.rejected) == (4, [])
    training = sent.on(TOPICS.records)
    assert [(e.record_id, e.target) for e in training] == [("a", "yes"), ("b", "no")]
    assert all(isinstance(e, RecordIngested) for e in training)
    v2 = sent.on(records_v2_topic(TOPICS))
    assert all(isinstance(e, RecordIngestedV2) for e in v2)
    assert [e.target for e in v2] == ["yes", "no"]
    predictions = sent.on(TOPICS.predict_requests)
    assert [e.record_id for e in predictions] == ["c", "d"]
    assert all(isinstance(e, PredictionRequested) for e in predictions)


async def test_an_unknown_class_is_dead_lettered_with_its_reason() -> None:
    sent = Recorder()
    raw = json.dumps(_churn("e", "maybe", plan="gold")).encode()
    outcome = await _ingestor(CHURN, sent).ingest(raw, KAFKA)
    [event] = sent.on(TOPICS.rejected)
    assert isinstance(event, RecordRejected)
    reasons = [(r.field, r.rule) for r in event.reasons]
    assert reasons == [("plan", "category"), ("churned", "class")]
    assert "unknown class 'maybe'; allowed: no, yes" in event.reasons[1].message
    assert (event.record_id, event.original, outcome.accepted) == ("e", raw.decode(), 0)


async def test_integer_coded_labels_arrive_as_the_class_text() -> None:
    sent = Recorder()
    labels = [1, 2.0, "3", " 2 ", 4, True]
    records = [{"record_id": f"g{i}", "x": i, "grade": g} for i, g in enumerate(labels)]
    outcome = await _ingestor(GRADES, sent).ingest(json.dumps(records).encode(), KAFKA)
    assert [e.target for e in sent.on(TOPICS.records)] == ["1", "2", "3", "2"]
    assert [r.index for r in outcome.rejected] == [4, 5]
    rules = [[r.rule for r in e.reasons] for e in sent.on(TOPICS.rejected)]
    assert rules == [["class"], ["class"]]


async def test_a_labelled_record_seen_again_is_a_duplicate() -> None:
    sent = Recorder()
    ingestor = _ingestor(CHURN, sent, horizon=60)
    await ingestor.ingest(json.dumps(_churn("f", "yes")).encode(), KAFKA)
    again = await ingestor.ingest(json.dumps(_churn("f", "no")).encode(), KAFKA)
    assert [e.target for e in sent.on(TOPICS.records)] == ["yes"]
    assert [r.reasons[0].rule for r in again.duplicates] == ["duplicate"]
