"""Labelled records in memory, and immutable snapshots of them for one training run."""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from contracts import CategoricalFeature, DatasetSpec, RecordIngested

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from services.trainer.selection import SnapshotParameters


class RecordBuffer:
    """The most recent `max_records` labelled records of one data set, one per record id."""

    def __init__(self, dataset: str, max_records: int) -> None:
        if max_records < 1:
            raise ValueError("max_records must be at least 1")
        self.dataset = dataset
        self.max_records = max_records
        self._records: OrderedDict[str, RecordIngested] = OrderedDict()

    def __len__(self) -> int:
        return len(self._records)

    def add(self, record: RecordIngested) -> bool:
        """Keep `record` if labelled and of our data set; True if it brought new data.

        A redelivered record (same id, features and target) is not new; a corrected one
        replaces the old version and counts as new.
        """
        if record.target is None or record.dataset != self.dataset:
            return False
        previous = self._records.pop(record.record_id, None)
        self._records[record.record_id] = record  # (re)inserted last: the most recent
        while len(self._records) > self.max_records:
            self._records.popitem(last=False)
        return previous is None or _content(previous) != _content(record)

    def recent(self, limit: int | None = None) -> list[RecordIngested]:
        """The buffered records, oldest first; only the last `limit` ones if given."""
        records = list(self._records.values())
        return records if limit is None else records[-limit:]


@dataclass(frozen=True)
class Snapshot:
    """The records of one run as a model frame: features typed as the ONNX inputs + target."""

    frame: pd.DataFrame
    size: int
    fingerprint: str
    parameters: SnapshotParameters | None = None  # how the records were selected
    record_ids: tuple[str, ...] = ()  # of the frame's rows, in order


def take_snapshot(
    records: Sequence[RecordIngested],
    spec: DatasetSpec,
    parameters: SnapshotParameters | None = None,
) -> Snapshot:
    """Frame (rows sorted by record id), size and fingerprint of `records`."""
    ordered = sorted(records, key=lambda r: r.record_id)
    rows = [r.features for r in ordered]
    frame = model_frame(rows, spec)
    frame[spec.target.name] = target_column([r.target for r in ordered], spec)
    return Snapshot(
        frame=frame,
        size=len(ordered),
        fingerprint=fingerprint(ordered),
        parameters=parameters,
        record_ids=tuple(r.record_id for r in ordered),
    )


def target_column(
    targets: Sequence[float | str | None], spec: DatasetSpec
) -> np.ndarray[tuple[int], np.dtype[np.generic]]:
    """The labels: floats for a regression spec, class names (strings) for a classifier."""
    if spec.classification is not None:
        return np.array([str(t) for t in targets], dtype=object)
    return np.array(targets, dtype=np.float64)


def model_frame(rows: Sequence[Mapping[str, object]], spec: DatasetSpec) -> pd.DataFrame:
    """Features as the ONNX graph sees them, missing values as the predictor feeds them.

    Numbers and booleans become float32 (None -> NaN), so sklearn is fitted on exactly the
    values onnxruntime will get; categories stay strings (None -> "").
    """
    columns: dict[str, np.ndarray[tuple[int], np.dtype[np.generic]]] = {}
    for feature in spec.features:
        values = [row.get(feature.name) for row in rows]
        if isinstance(feature, CategoricalFeature):
            columns[feature.name] = np.array(
                ["" if v is None else str(v) for v in values], dtype=object
            )
        else:
            columns[feature.name] = np.array(
                [np.nan if v is None else v for v in values], dtype=np.float32
            )
    return pd.DataFrame(columns, index=pd.RangeIndex(len(rows)))


def fingerprint(records: Sequence[RecordIngested]) -> str:
    """sha256 of the canonical JSON of the records' ids, features and targets, sorted by id."""
    canonical = [_content(r) | {"record_id": r.record_id} for r in records]
    canonical.sort(key=lambda item: str(item["record_id"]))
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _content(record: RecordIngested) -> dict[str, object]:
    return {"features": record.features, "target": record.target}
