"""Snapshot selections (all, recent N, time window) and their replay from the recorded bounds."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from contracts import HOUSE_PRICES, RecordIngested
from services.trainer.selection import SnapshotSelection, replay, select
from services.trainer.snapshot import fingerprint, take_snapshot
from tests.unit.trainer.trainer_samples import labelled_records

START = datetime(2026, 1, 1, tzinfo=UTC)


def timed(count: int, *, seed: int = 0, prefix: str = "rec") -> list[RecordIngested]:
    """Labelled records ingested one second apart from START."""
    return [
        r.model_copy(update={"occurred_at": START + timedelta(seconds=i)})
        for i, r in enumerate(labelled_records(count, seed=seed, prefix=prefix))
    ]


def test_all_selects_every_record_up_to_the_newest() -> None:
    records = timed(50)
    chosen, params = select(reversed(records), SnapshotSelection(), START + timedelta(days=1))
    assert chosen == records
    assert params.mode == "all"
    assert params.since is None
    assert params.until == records[-1].occurred_at


def test_recent_selects_the_newest_records_by_ingest_time() -> None:
    records = timed(50)
    shuffled = random.Random(1).sample(records, len(records))
    chosen, params = select(shuffled, SnapshotSelection("recent", 20), START)
    assert chosen == records[-20:]
    assert (params.since, params.until, params.records) == (
        records[30].occurred_at,
        records[-1].occurred_at,
        20,
    )


def test_window_selects_the_records_of_the_last_seconds_before_now() -> None:
    records = timed(50)
    now = START + timedelta(seconds=49)
    chosen, params = select(records, SnapshotSelection("window", window_seconds=10), now)
    assert chosen == records[39:]
    assert params.since == now - timedelta(seconds=10)
    assert params.until == now
    assert params.as_json()["window_seconds"] == 10


@pytest.mark.parametrize(
    "selection",
    [SnapshotSelection(), SnapshotSelection("recent", 15), SnapshotSelection("window", None, 12)],
    ids=["all", "recent", "window"],
)
def test_a_snapshot_is_reproduced_from_its_parameters(selection: SnapshotSelection) -> None:
    """Replaying the whole records topic (older versions, later records, any order) with the
    recorded parameters gives the same records, hence the same fingerprint."""
    records = timed(40)
    now = START + timedelta(seconds=39)
    chosen, params = select(records, selection, now)
    before = START - timedelta(seconds=1)
    older_versions = [r.model_copy(update={"target": 1.0, "occurred_at": before}) for r in records]
    later = [
        r.model_copy(update={"occurred_at": now + timedelta(seconds=1 + i)})
        for i, r in enumerate(timed(5, seed=9, prefix="late"))
    ]
    topic = random.Random(2).sample(older_versions + records + later, 85)
    again = replay(topic, params)
    assert again == chosen
    assert take_snapshot(again, HOUSE_PRICES).fingerprint == fingerprint(chosen)


@pytest.mark.parametrize(
    ("mode", "records", "window"),
    [("recent", None, None), ("recent", 0, None), ("window", None, None), ("window", None, -1.0)],
)
def test_incomplete_selections_are_refused(
    mode: str, records: int | None, window: float | None
) -> None:
    with pytest.raises(ValueError, match="needs"):
        SnapshotSelection(mode, records, window)  # type: ignore[arg-type]


def test_coalesced_selections_keep_the_narrowest() -> None:
    everything, recent = SnapshotSelection(), SnapshotSelection("recent", 100)
    window = SnapshotSelection("window", window_seconds=30)
    assert everything.narrowest(recent) == recent
    assert recent.narrowest(everything) == recent
    assert recent.narrowest(SnapshotSelection("recent", 50)).records == 50
    assert window.narrowest(SnapshotSelection("window", window_seconds=60)) == window
    assert recent.narrowest(window) == window  # the newer kind of narrowing wins
