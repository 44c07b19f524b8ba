"""The record buffer, snapshots and their fingerprints."""

from __future__ import annotations

import numpy as np
import pytest

from contracts import (
    HOUSE_PRICES,
    BooleanFeature,
    DatasetSpec,
    NumericFeature,
    RecordIngested,
    RegressionTarget,
)
from services.trainer.snapshot import RecordBuffer, fingerprint, model_frame, take_snapshot
from tests.unit.trainer.trainer_samples import labelled_records


def new_envelope(record: RecordIngested) -> RecordIngested:
    """The same record as ingest would publish it again: new event id and time."""
    again = RecordIngested(**record.model_dump(exclude={"event_id", "occurred_at"}))
    assert again.event_id != record.event_id
    return again


def test_buffer_keeps_only_labelled_records_of_its_dataset() -> None:
    buffer = RecordBuffer("house-prices", max_records=10)
    labelled, unlabelled = labelled_records(2)
    other = labelled.model_copy(update={"record_id": "x", "dataset": "other"})
    assert buffer.add(labelled) is True
    assert buffer.add(unlabelled.model_copy(update={"target": None})) is False
    assert buffer.add(other) is False
    assert [r.record_id for r in buffer.recent()] == [labelled.record_id]


def test_buffer_dedupes_by_record_id() -> None:
    buffer = RecordBuffer("house-prices", max_records=10)
    record = labelled_records(1)[0]
    assert buffer.add(record) is True
    redelivered = record.model_copy()
    replayed = new_envelope(record)
    assert buffer.add(redelivered) is False
    assert buffer.add(replayed) is False
    corrected = record.model_copy(update={"target": record.target + 1.0})  # type: ignore[operator]
    assert buffer.add(corrected) is True
    assert len(buffer) == 1
    assert buffer.recent()[0].target == corrected.target


def test_buffer_evicts_the_oldest_beyond_max_records() -> None:
    buffer = RecordBuffer("house-prices", max_records=3)
    records = labelled_records(5)
    for record in records:
        buffer.add(record)
    assert [r.record_id for r in buffer.recent()] == [r.record_id for r in records[2:]]
    assert [r.record_id for r in buffer.recent(2)] == [r.record_id for r in records[3:]]


def test_buffer_moves_a_re_sent_record_to_the_most_recent_end() -> None:
    buffer = RecordBuffer("house-prices", max_records=3)
    first, second, third = labelled_records(3)
    for record in (first, second, third, first):
        buffer.add(record)
    assert [r.record_id for r in buffer.recent()] == [
        second.record_id,
        third.record_id,
        first.record_id,
    ]


def test_fingerprint_ignores_order_and_envelope_but_not_content() -> None:
    records = labelled_records(50)
    reordered = list(reversed(records))
    new_envelopes = [new_envelope(r) for r in records]
    assert fingerprint(records) == fingerprint(reordered) == fingerprint(new_envelopes)
    changed = [*records[:-1], records[-1].model_copy(update={"target": 1.0})]
    assert fingerprint(changed) != fingerprint(records)
    assert fingerprint(records[:-1]) != fingerprint(records)
    assert len(fingerprint(records)) == 64


def test_fingerprint_is_stable_across_runs() -> None:
    """The same generated records hash to the same value in every process."""
    assert fingerprint(labelled_records(20, seed=7)) == fingerprint(labelled_records(20, seed=7))


def test_snapshot_frame_has_features_typed_for_onnx_and_the_target() -> None:
    records = labelled_records(30)
    snapshot = take_snapshot(list(reversed(records)), HOUSE_PRICES)
    frame = snapshot.frame
    assert snapshot.size == 30
    assert snapshot.fingerprint == fingerprint(records)
    assert list(frame.columns) == [*HOUSE_PRICES.feature_names, "price"]
    assert frame["area"].dtype == np.float32
    assert frame["bedrooms"].dtype == np.float32
    assert all(isinstance(v, str) for v in frame["mainroad"])
    assert frame["price"].dtype == np.float64
    ids = sorted(r.record_id for r in records)
    by_id = {r.record_id: r for r in records}
    assert frame["price"].tolist() == [by_id[i].target for i in ids]  # sorted by record id


def test_model_frame_spells_missing_values_as_the_predictor_feeds_them() -> None:
    spec = DatasetSpec(
        name="tiny",
        target=RegressionTarget(name="y"),
        features=(
            NumericFeature(name="x", nullable=True),
            BooleanFeature(name="flag", nullable=True),
            HOUSE_PRICES.feature("furnishingstatus").model_copy(update={"nullable": True}),
        ),
    )
    frame = model_frame(
        [
            {"x": 1.5, "flag": True, "furnishingstatus": "furnished"},
            {"x": None, "flag": None, "furnishingstatus": None},
        ],
        spec,
    )
    assert frame["x"].tolist()[0] == pytest.approx(1.5)
    assert np.isnan(frame["x"].iloc[1])
    assert frame["flag"].iloc[0] == 1.0
    assert np.isnan(frame["flag"].iloc[1])
    assert frame["furnishingstatus"].tolist() == ["furnished", ""]
