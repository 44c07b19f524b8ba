"""Which buffered records a run trains on: all, the most recent N, or a time window.

A selection is resolved against the records at snapshot time into `SnapshotParameters`
(absolute bounds on the records' `occurred_at`), which the model card records: replaying the
records topic through `replay` with those parameters gives back the same snapshot, and so the
same fingerprint.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from collections.abc import Iterable

    from contracts import JsonScalar, RecordIngested

SnapshotMode = Literal["all", "recent", "window"]
SNAPSHOT_MODES: tuple[SnapshotMode, ...] = ("all", "recent", "window")


@dataclass(frozen=True)
class SnapshotSelection:
    """`recent` needs `records` (how many); `window` needs `window_seconds` (back from now)."""

    mode: SnapshotMode = "all"
    records: int | None = None
    window_seconds: float | None = None

    def __post_init__(self) -> None:
        if self.mode not in SNAPSHOT_MODES:
            raise ValueError(f"snapshot mode {self.mode!r} is not one of {SNAPSHOT_MODES}")
        if self.mode == "recent" and (self.records is None or self.records < 1):
            raise ValueError("a 'recent' snapshot needs records >= 1")
        if self.mode == "window" and (self.window_seconds is None or self.window_seconds <= 0):
            raise ValueError("a 'window' snapshot needs window_seconds > 0")

    def describe(self) -> str:
        match self.mode:
            case "recent":
                return f"the {self.records} most recent records"
            case "window":
                return f"records of the last {self.window_seconds:g} s"
        return "all buffered records"

    def narrowest(self, other: SnapshotSelection) -> SnapshotSelection:
        """The selection standing for both when two requests coalesce: the narrower wins
        (a drift run on recent data must not turn into a run on everything)."""
        if other.mode == "all":
            return self
        if self.mode == "all" or self.mode != other.mode:
            return other
        if self.mode == "recent":
            return self if (self.records or 0) <= (other.records or 0) else other
        return self if (self.window_seconds or 0) <= (other.window_seconds or 0) else other


@dataclass(frozen=True)
class SnapshotParameters:
    """A resolved selection: records with since <= occurred_at <= until (since None: no lower
    bound), ordered by (occurred_at, record_id), the last `records` of them if given."""

    mode: SnapshotMode
    until: datetime
    since: datetime | None = None
    records: int | None = None
    window_seconds: float | None = None

    def as_json(self) -> dict[str, JsonScalar]:
        return {
            "mode": self.mode,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat(),
            "records": self.records,
            "window_seconds": self.window_seconds,
        }


def select(
    records: Iterable[RecordIngested], selection: SnapshotSelection, now: datetime
) -> tuple[list[RecordIngested], SnapshotParameters]:
    """The records `selection` picks at time `now`, and the parameters that reproduce them."""
    ordered = _ordered(records)
    match selection.mode:
        case "window":
            since = now - timedelta(seconds=selection.window_seconds or 0.0)
            chosen = [r for r in ordered if since <= r.occurred_at <= now]
            params = SnapshotParameters(
                "window", until=now, since=since, window_seconds=selection.window_seconds
            )
            return chosen, params
        case "recent":
            chosen = ordered[-(selection.records or 0) :]
            last = chosen[-1].occurred_at if chosen else now
            first = chosen[0].occurred_at if chosen else None
            params = SnapshotParameters(
                "recent", until=last, since=first, records=selection.records
            )
            return chosen, params
    until = ordered[-1].occurred_at if ordered else now
    return ordered, SnapshotParameters("all", until=until)


def replay(records: Iterable[RecordIngested], params: SnapshotParameters) -> list[RecordIngested]:
    """The snapshot's records again, from any superset of them (e.g. the records topic read
    from the beginning): the latest version of each record id, within the recorded bounds."""
    latest: dict[str, RecordIngested] = {}
    for record in records:
        seen = latest.get(record.record_id)
        if record.occurred_at > params.until:
            continue
        if seen is None or seen.occurred_at <= record.occurred_at:
            latest[record.record_id] = record
    chosen = [
        r
        for r in _ordered(latest.values())
        if params.since is None or r.occurred_at >= params.since
    ]
    return chosen[-params.records :] if params.records else chosen


def _ordered(records: Iterable[RecordIngested]) -> list[RecordIngested]:
    return sorted(records, key=lambda r: (r.occurred_at, r.record_id))
