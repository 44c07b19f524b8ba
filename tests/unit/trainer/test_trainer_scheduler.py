"""Coalescing of training requests: one run in progress, at most one pending."""

from __future__ import annotations

import asyncio

import pytest

from services.trainer.scheduler import RunCoalescer, TrainRequest
from services.trainer.selection import SnapshotSelection
from services.trainer.training import TrainingOptions


class GatedRuns:
    """A run function that records its requests and waits for the test to let it finish."""

    def __init__(self, fail_first: bool = False) -> None:
        self.started: list[TrainRequest] = []
        self.gate = asyncio.Event()
        self.fail_first = fail_first

    async def __call__(self, request: TrainRequest) -> None:
        self.started.append(request)
        await self.gate.wait()
        if self.fail_first and len(self.started) == 1:
            raise RuntimeError("boom")


async def test_requests_during_a_run_coalesce_into_one_pending_run() -> None:
    runs = GatedRuns()
    coalescer = RunCoalescer(runs)
    coalescer.request(TrainRequest("new records", "m"))
    await asyncio.sleep(0)
    assert coalescer.running
    assert [r.reason for r in runs.started] == ["new records"]
    for reason in ("new records", "command: requested", "new records"):
        coalescer.request(TrainRequest(reason, "m"))
    assert coalescer.pending is not None
    assert coalescer.pending.reason == "new records; command: requested"
    runs.gate.set()
    await coalescer.wait_idle()
    assert [r.reason for r in runs.started] == ["new records", "new records; command: requested"]
    assert not coalescer.running
    assert coalescer.pending is None


async def test_a_new_request_after_idle_starts_a_new_run() -> None:
    runs = GatedRuns()
    runs.gate.set()
    coalescer = RunCoalescer(runs)
    coalescer.request(TrainRequest("a", "m"))
    await coalescer.wait_idle()
    coalescer.request(TrainRequest("b", "m"))
    await coalescer.wait_idle()
    assert [r.reason for r in runs.started] == ["a", "b"]


async def test_a_failing_run_does_not_stop_the_pending_one() -> None:
    runs = GatedRuns(fail_first=True)
    coalescer = RunCoalescer(runs)
    coalescer.request(TrainRequest("first", "m"))
    await asyncio.sleep(0)
    coalescer.request(TrainRequest("second", "m"))
    runs.gate.set()
    await coalescer.wait_idle()
    assert [r.reason for r in runs.started] == ["first", "second"]


async def test_close_drops_the_pending_request_and_waits_for_the_current_run() -> None:
    runs = GatedRuns()
    coalescer = RunCoalescer(runs)
    coalescer.request(TrainRequest("first", "m"))
    await asyncio.sleep(0)
    coalescer.request(TrainRequest("second", "m"))
    closing = asyncio.create_task(coalescer.close())
    await asyncio.sleep(0)
    assert not closing.done()
    runs.gate.set()
    await closing
    assert [r.reason for r in runs.started] == ["first"]


@pytest.mark.parametrize(
    ("older", "newer", "recent"),
    [(None, 500, 500), (300, None, 300), (300, 500, 300), (None, None, None)],
)
def test_merging_keeps_the_narrowest_recent_window(
    older: int | None, newer: int | None, recent: int | None
) -> None:
    merged = TrainRequest("a", "old", _recent(older)).merged_with(
        TrainRequest("b", "new", _recent(newer))
    )
    assert merged == TrainRequest("a; b", "new", _recent(recent))


def _recent(records: int | None) -> SnapshotSelection:
    return SnapshotSelection() if records is None else SnapshotSelection("recent", records)


def test_merging_prefers_a_time_window_over_all_and_the_newer_options() -> None:
    window = SnapshotSelection("window", window_seconds=60.0)
    linear = TrainingOptions(estimator="linear")
    older = TrainRequest("a", "m", window, options=linear)
    merged = older.merged_with(TrainRequest("b", "m"))
    assert merged.selection == window
    assert merged.options == linear
    boosted = TrainingOptions(estimator="hist_gradient_boosting")
    newest = merged.merged_with(TrainRequest("c", "m", options=boosted))
    assert newest.options == boosted
    assert newest.reason == "a; b; c"
