"""A service's shutdown stops its background jobs, and no job can hold it (and its broker) up."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from services.common.http import stop_tasks


async def _forever() -> None:
    await asyncio.Event().wait()


async def _ignoring_one_cancel(ignored: list[int]) -> None:
    """A job that drops the first cancel it gets, as one can through Python 3.11's wait_for."""
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        ignored.append(1)
    await asyncio.sleep(3600)


async def _failing() -> None:
    raise RuntimeError("the job broke before shutdown")


async def test_cancelled_jobs_are_stopped_and_none_is_left() -> None:
    jobs = [asyncio.create_task(_forever()) for _ in range(3)]
    await asyncio.sleep(0)
    assert await stop_tasks(jobs, seconds=5.0) == set()
    assert all(job.cancelled() for job in jobs)


async def test_a_job_that_ignores_its_cancel_is_left_after_the_grace(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ignored: list[int] = []
    stubborn = asyncio.create_task(_ignoring_one_cancel(ignored), name="stubborn-job")
    polite = asyncio.create_task(_forever())
    await asyncio.sleep(0)
    started = time.perf_counter()
    left = await stop_tasks([stubborn, polite], seconds=0.2)
    assert 0.2 <= time.perf_counter() - started < 2.0
    assert left == {stubborn}
    assert ignored == [1]
    assert polite.cancelled()
    assert "stubborn-job did not stop" in caplog.text
    stubborn.cancel()  # the second cancel ends it
    with contextlib.suppress(asyncio.CancelledError):
        await stubborn


async def test_a_job_that_failed_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    failed = asyncio.create_task(_failing(), name="broken-job")
    await asyncio.sleep(0)
    assert await stop_tasks([failed], seconds=1.0) == set()
    assert "broken-job failed: RuntimeError('the job broke before shutdown')" in caplog.text
