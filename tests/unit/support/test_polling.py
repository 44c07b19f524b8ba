"""The shared polling helper: returns what it waited for, and fails saying what and why."""

from __future__ import annotations

import itertools

import pytest

from tests.support.polling import eventually, eventually_sync


def test_returns_the_first_value_the_condition_accepts() -> None:
    counter = itertools.count()
    assert (
        eventually_sync(lambda: next(counter), what="three", until=lambda n: n >= 3, interval=0)
        == 3
    )


async def test_async_returns_the_first_truthy_value() -> None:
    values = iter([0, "", "ready"])

    async def probe() -> object:
        return next(values)

    assert await eventually(probe, what="ready", interval=0) == "ready"


def test_timeout_names_what_was_awaited_the_last_value_and_the_context() -> None:
    with pytest.raises(AssertionError) as failed:
        eventually_sync(
            lambda: 7,
            what="eight",
            until=lambda n: n == 8,
            timeout=0.05,
            interval=0.01,
            context=lambda: "log tail",
        )
    message = str(failed.value)
    assert "waiting for eight" in message
    assert "last: 7" in message
    assert message.endswith("\nlog tail")


def test_ignored_errors_count_as_not_yet_and_are_reported() -> None:
    def refused() -> int:
        raise ConnectionError("refused")

    with pytest.raises(AssertionError, match=r"last: ConnectionError\('refused'\)"):
        eventually_sync(
            refused, what="up", timeout=0.05, interval=0.01, ignoring=(ConnectionError,)
        )


def test_other_errors_escape_at_once() -> None:
    def broken() -> int:
        raise ValueError("bad probe")

    with pytest.raises(ValueError, match="bad probe"):
        eventually_sync(broken, what="up", timeout=5, ignoring=(ConnectionError,))
