"""Batch scoring: one prediction per good request, one rejection per bad one."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from contracts import MAX_ORIGINAL_CHARS, PredictionMade, PredictionRequested
from services.predictor.event_ids import parse_uuids
from services.predictor.model import Columns, LoadedModel
from services.predictor.request_batch import (
    MAX_RECORD_ID_CHARS,
    PREDICT_ERROR,
    RawRequest,
    RequestBatch,
    encode_json,
    parse_requests,
)
from services.predictor.scoring import prediction_ids, score_requests
from tests.unit.predictor.predictor_fixtures import CATEGORICAL, NUMERIC

TOPIC = "t.predict.requests.v1"


def _raw(record_id: str, features: dict[str, Any], offset: int = 0) -> RawRequest:
    event = PredictionRequested(record_id=record_id, dataset="house-prices", features=features)
    return RawRequest(event.model_dump_json().encode(), TOPIC, partition=2, offset=offset)


def _good(record_id: str, area: float = 5000.0) -> RawRequest:
    return _raw(record_id, {NUMERIC: area, CATEGORICAL: "semi-furnished", "bedrooms": 3})


def _parsed(raws: Sequence[RawRequest]) -> RequestBatch:
    parsed, rejected = parse_requests(raws)
    assert rejected == []
    return parsed


def test_unparsable_requests_are_rejected_with_their_bytes_and_position() -> None:
    raws = [
        _good("r1"),
        RawRequest(b"{not json", TOPIC, partition=1, offset=41),
        RawRequest(b'{"record_id": "r3"}', TOPIC, partition=1, offset=42),
    ]
    parsed, rejected = parse_requests(raws)
    assert [e.record_id for e in parsed.events] == ["r1"]
    assert [(r.offset, r.original) for r in rejected] == [
        (41, "{not json"),
        (42, '{"record_id": "r3"}'),
    ]
    assert all(r.reasons[0].rule == PREDICT_ERROR and r.source == TOPIC for r in rejected)
    assert "missing required field `dataset`" in rejected[1].reasons[0].message


def test_scores_a_batch_naming_model_version_and_request(model_v1: LoadedModel) -> None:
    parsed = _parsed([_good("r1", 3000.0), _good("r2", 9000.0)])
    batch = score_requests(model_v1, parsed)
    assert batch.rejections == []
    expected = model_v1.predict(parsed.features)
    made = batch.predictions
    assert [(p.record_id, p.model_name, p.model_version) for p in made] == [
        ("r1", "house-prices", 1),
        ("r2", "house-prices", 1),
    ]
    assert [p.prediction for p in made] == pytest.approx(expected.tolist())
    assert made[0].request_event_id == parsed.events[0].event_id
    assert bytes(made[1].features) == bytes(parsed.events[1].features)  # echoed as it came
    assert batch.inference_seconds > 0


def test_unscorable_requests_are_rejected_alone(model_v1: LoadedModel) -> None:
    parsed = _parsed(
        [
            _good("ok-1"),
            _raw("no-area", {CATEGORICAL: "furnished"}, offset=5),
            _raw("nan", {NUMERIC: None, CATEGORICAL: "furnished"}, offset=6),
            _good("ok-2"),
        ]
    )
    batch = score_requests(model_v1, parsed)
    assert [p.record_id for p in batch.predictions] == ["ok-1", "ok-2"]
    rejected = {r.record_id: r for r in batch.rejections}
    assert set(rejected) == {"no-area", "nan"}
    assert "missing feature 'area'" in rejected["no-area"].reasons[0].message
    assert rejected["no-area"].offset == 5
    assert rejected["no-area"].partition == 2
    assert "model predicted nan" in rejected["nan"].reasons[0].message


class FailsOnPoison(LoadedModel):
    """A model whose runtime fails on any batch holding a poison row."""

    def __init__(self, real: LoadedModel) -> None:
        super().__init__(real.name, real.version, real.sha256, real.session)
        self.calls = 0

    def predict_columns(
        self, columns: Columns, count: int
    ) -> np.ndarray[Any, np.dtype[np.float64]]:
        self.calls += 1
        if -1 in columns[[i.name for i in self.inputs].index(NUMERIC)]:
            raise RuntimeError("runtime exploded")
        return super().predict_columns(columns, count)


def test_a_failing_batch_is_retried_row_by_row(model_v1: LoadedModel) -> None:
    model = FailsOnPoison(model_v1)
    parsed = _parsed([_good("a"), _good("poison", area=-1), _good("b")])
    batch = score_requests(model, parsed)
    assert [p.record_id for p in batch.predictions] == ["a", "b"]
    assert [r.record_id for r in batch.rejections] == ["poison"]
    assert "runtime exploded" in batch.rejections[0].reasons[0].message
    assert model.calls == 4  # the batch once, then each row


def test_an_empty_batch_scores_nothing(model_v1: LoadedModel) -> None:
    batch = score_requests(model_v1, _parsed([]))
    assert (batch.predictions, batch.rejections) == ([], [])


def test_fast_codecs_speak_the_contracts_json(model_v1: LoadedModel) -> None:
    """The msgspec structs read PredictionRequested and write a valid PredictionMade."""
    request = PredictionRequested(
        record_id="c1", dataset="house-prices", features={NUMERIC: 4000, CATEGORICAL: "furnished"}
    )
    raw = RawRequest(request.model_dump_json().encode(), TOPIC)
    parsed = _parsed([raw])
    assert parsed.events[0].event_id == str(request.event_id)
    assert parsed.features[0] == request.features
    made = PredictionMade.model_validate_json(
        encode_json(score_requests(model_v1, parsed).predictions[0])
    )
    assert (made.record_id, made.request_event_id, made.model_version) == (
        "c1",
        request.event_id,
        1,
    )
    assert made.features == request.features


def test_requests_with_unknown_fields_or_kinds_are_rejected() -> None:
    extra = b'{"record_id": "x", "dataset": "d", "features": {}, "surprise": 1}'
    wrong_kind = b'{"record_id": "x", "dataset": "d", "features": {}, "kind": "record.ingested.v1"}'
    parsed, rejected = parse_requests([RawRequest(extra, TOPIC), RawRequest(wrong_kind, TOPIC)])
    assert len(parsed) == 0
    assert len(rejected) == 2


@pytest.mark.parametrize(
    ("features", "event_id"),
    [
        ('{"area": [1, 2]}', '"5b0d3c8e-6f55-4cbb-9d6e-3a0c4b1e2f70"'),  # not a scalar
        ('{"area": 1.0}', '"5b0d3c8e-6f55-4cbb-9d6e-3a0c4b1e2f7z"'),  # not hexadecimal
        ('{"area": 1.0}', '"5b0d3c8e+6f55-4cbb-9d6e-3a0c4b1e2f70"'),  # a dash missing
        ('{"area": 1.0}', '"5b0d3c8e6f554cbb9d6e3a0c4b1e2f70"'),  # not the canonical form
        ('{"area": 1.0}', '"5b0d3c8e-6f55-4cbb-9d6e-3a0c4b1e2f7é"'),  # not ASCII
    ],
)
def test_requests_with_bad_features_or_event_ids_are_rejected_alone(
    features: str, event_id: str
) -> None:
    bad = f'{{"record_id": "b", "dataset": "d", "features": {features}, "event_id": {event_id}}}'
    parsed, rejected = parse_requests([_good("r1"), RawRequest(bad.encode(), TOPIC), _good("r2")])
    assert [e.record_id for e in parsed.events] == ["r1", "r2"]
    assert len(rejected) == 1
    assert rejected[0].original == bad


def test_prediction_ids_are_version_5_uuids_of_request_and_model(model_v1: LoadedModel) -> None:
    requests = [str(uuid.uuid4()) for _ in range(3)]
    ids = prediction_ids(parse_uuids(requests)[0], model_v1)
    assert [uuid.UUID(i).version for i in ids] == [5, 5, 5]
    assert len(set(ids)) == 3
    # Either case of the same request id is the same request.
    assert prediction_ids(parse_uuids([r.upper() for r in requests])[0], model_v1) == ids


def test_a_redelivered_request_gets_the_same_prediction_event_id(
    model_v1: LoadedModel, onnx_v2: bytes
) -> None:
    from services.predictor.model import load_model
    from tests.unit.predictor.predictor_fixtures import sha256

    parsed = _parsed([_good("r1"), _good("r2")])
    first, again = score_requests(model_v1, parsed), score_requests(model_v1, parsed)
    assert [p.event_id for p in first.predictions] == [p.event_id for p in again.predictions]
    assert first.predictions[0].event_id != first.predictions[1].event_id
    model_v2 = load_model("house-prices", 2, onnx_v2, sha256(onnx_v2))
    other = score_requests(model_v2, parsed)
    assert other.predictions[0].event_id != first.predictions[0].event_id


def test_a_request_over_the_size_limit_is_rejected_alone_with_a_bounded_original() -> None:
    big = _good("big")
    big = RawRequest(big.value.replace(b'"bedrooms":3', b'"bedrooms":3' + b" " * 300_000), TOPIC)
    parsed, rejected = parse_requests([_good("r1"), big, _good("r2")], max_bytes=200_000)
    assert [e.record_id for e in parsed.events] == ["r1", "r2"]
    assert "over the 200000-byte limit" in rejected[0].reasons[0].message
    # The dead-letter event itself stays far below Kafka's 1 MiB message limit.
    assert len(rejected[0].original) < MAX_ORIGINAL_CHARS + 100
    assert rejected[0].original.endswith("more characters cut]")
    garbage = RawRequest(b"x" * 2_000_000, TOPIC)
    _, rejected = parse_requests([garbage])
    assert len(rejected[0].model_dump_json()) < MAX_ORIGINAL_CHARS + 1_000


def test_uuid_texts_of_another_length_are_refused_rather_than_misread() -> None:
    with pytest.raises(ValueError, match="36 characters"):
        parse_uuids([str(uuid.uuid4()), "5b0d3c8e6f554cbb9d6e3a0c4b1e2f70"])


@pytest.mark.parametrize(
    "raw",
    [
        b'{"record_id": "\\ud800", "dataset": "d", "features": {}}',
        b'{"record_id": "r", "dataset": "d", "features": {"\\udc00": 1}}',
        b'{"record_id": "r", "dataset": "d", "features": {"area": "\\ud83d"}}',
    ],
)
def test_a_request_with_text_that_is_not_unicode_is_rejected_alone(raw: bytes) -> None:
    parsed, rejected = parse_requests([_good("r1"), RawRequest(raw, TOPIC, 2, 7), _good("r2")])
    assert [e.record_id for e in parsed.events] == ["r1", "r2"]
    [rejection] = rejected
    assert rejection.offset == 7
    rejection.model_dump_json().encode("utf-8")  # its original serialises


def test_a_request_whose_record_id_is_too_long_to_echo_is_rejected_alone() -> None:
    parsed, rejected = parse_requests([_good("x" * (MAX_RECORD_ID_CHARS + 1)), _good("r2")])
    assert [e.record_id for e in parsed.events] == ["r2"]
    assert len(rejected) == 1
    assert len(rejected[0].record_id or "") <= 300
