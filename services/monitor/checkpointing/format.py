"""A checkpoint of the monitor: its countable state plus the next offset of every partition the
state covers. It is written to a compacted topic before those offsets are committed, so a
restarted monitor resumes with exactly the counts it had (see checkpointer.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, model_validator

from contracts import DriftDetected

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from services.monitor.checkpointing.positions import Partition

_UUID_BYTES = 16


class _Frozen(BaseModel):
    # Event ids travel as base64 of their 16 bytes each: a third of their text form.
    model_config = ConfigDict(
        frozen=True, extra="forbid", ser_json_bytes="base64", val_json_bytes="base64"
    )


class CounterValue(_Frozen):
    labels: dict[str, str]
    value: float


class CarriedWindow(_Frozen):
    """The open drift window of one (model, version): its bin counts and decisions so far."""

    model_name: str
    model_version: int
    size: int = 0
    counts: dict[str, list[int]] = {}
    # The sequential option's counts of the version's complete windows (empty when off).
    totals_size: int = 0
    totals: dict[str, list[int]] = {}
    complete_windows: int = 0
    drifting_windows: int = 0
    dropped: int = 0
    last_partial_size: int = 0
    opened_at: float | None = None  # wall-clock seconds


class CarriedErrorWindow(_Frozen):
    """The live-error window of one (model, version, role): its sums and its last summary."""

    model_name: str
    model_version: int
    role: str
    size: int
    squared: float
    absolute: float
    count: int
    windows: int
    last: tuple[float, float, int] | None = None  # rmse, mae, count of the latest window


class CarriedClassWindow(_Frozen):
    """A classifier's live score window of one (model, version, role): its rows, oldest first,
    packed (class indexes as little-endian int16, probabilities as float32, row by row):
    2000 rows of a binary classifier take 21 kB of base64."""

    model_name: str
    model_version: int
    role: str
    classes: tuple[str, ...]
    size: int
    positive: str | None = None
    joined: int
    labels: bytes
    predicted: bytes
    probabilities: bytes

    @model_validator(mode="after")
    def _rows_fit(self) -> CarriedClassWindow:
        rows = min(self.joined, self.size)
        sizes = (len(self.labels), len(self.predicted), len(self.probabilities))
        if sizes != (2 * rows, 2 * rows, 4 * rows * len(self.classes)):
            raise ValueError(f"packed rows of {sizes} bytes do not hold {rows} rows")
        return self


class MonitorState(_Frozen):
    """What the monitor has counted; the label join buffers and the predictions still waiting
    for a reference are left out (bounded, but too large to write every second)."""

    counters: dict[str, list[CounterValue]] = {}
    windows: list[CarriedWindow] = []
    last_drift: dict[str, float] = {}  # model name -> wall-clock time of its last drift event
    errors: list[CarriedErrorWindow] = []
    classified: list[CarriedClassWindow] = []
    joined: int = 0
    expired_predictions: int = 0
    expired_labels: int = 0
    recent_ids: dict[str, bytes] = {}  # input -> its latest event ids, oldest first
    outbox: list[DriftDetected] = []


class PartitionOffset(_Frozen):
    topic: str
    partition: int
    next_offset: int


class Checkpoint(_Frozen):
    format: Literal[1] = 1
    group_id: str
    offsets: list[PartitionOffset]
    state: MonitorState

    @classmethod
    def of(cls, group_id: str, offsets: Mapping[Partition, int], state: MonitorState) -> Checkpoint:
        carried = [
            PartitionOffset(topic=topic, partition=partition, next_offset=offset)
            for (topic, partition), offset in sorted(offsets.items())
        ]
        return cls(group_id=group_id, offsets=carried, state=state)

    def next_offsets(self) -> dict[Partition, int]:
        return {(o.topic, o.partition): o.next_offset for o in self.offsets}


def encode(checkpoint: Checkpoint) -> bytes:
    return checkpoint.model_dump_json().encode()


def decode(value: bytes) -> Checkpoint:
    return Checkpoint.model_validate_json(value)


def pack_ids(ids: Iterable[UUID]) -> bytes:
    return b"".join(event_id.bytes for event_id in ids)


def unpack_ids(packed: bytes) -> list[UUID]:
    if len(packed) % _UUID_BYTES:
        raise ValueError(f"{len(packed)} bytes are not a whole number of event ids")
    return [
        UUID(bytes=packed[start : start + _UUID_BYTES])
        for start in range(0, len(packed), _UUID_BYTES)
    ]
