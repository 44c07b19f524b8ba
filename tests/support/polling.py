"""Wait for a condition instead of sleeping: the one polling loop every test tier shares.

`eventually` (async) and `eventually_sync` call `probe` until `until(value)` holds and return
that value. On timeout they fail with what was awaited, the last value seen (or the last
exception a probe raised that `ignoring` lets through) and, if given, `context()` such as log
tails, so a failed wait says why without a rerun.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

Ignored = tuple[type[BaseException], ...]
LAST_SHOWN = 2000  # characters of the last value a failure shows (a whole /metrics is long)


def _truthy(value: object) -> bool:
    return bool(value)


class _Waiting:
    """One wait's deadline and what it last saw."""

    def __init__(self, what: str, timeout: float, context: Callable[[], str] | None) -> None:
        self.what = what
        self.timeout = timeout
        self.context = context
        self.deadline = time.monotonic() + timeout
        self.last: object = "<never probed>"

    def expired(self) -> bool:
        return time.monotonic() >= self.deadline

    def failure(self) -> AssertionError:
        last = repr(self.last)
        if len(last) > LAST_SHOWN:
            last = last[:LAST_SHOWN] + f"... ({len(last)} characters)"
        message = f"timed out after {self.timeout:g}s waiting for {self.what}; last: {last}"
        if self.context is not None:
            message += "\n" + self.context()
        return AssertionError(message)


async def eventually(
    probe: Callable[[], Awaitable[T]],
    *,
    what: str,
    until: Callable[[T], bool] = _truthy,
    timeout: float = 30.0,
    interval: float = 0.2,
    ignoring: Ignored = (),
    context: Callable[[], str] | None = None,
) -> T:
    """The first value of `await probe()` for which `until` holds, polled every `interval` s."""
    waiting = _Waiting(what, timeout, context)
    while True:
        try:
            value = await probe()
        except ignoring as error:
            waiting.last = error
        else:
            if until(value):
                return value
            waiting.last = value
        if waiting.expired():
            raise waiting.failure()
        await asyncio.sleep(interval)


def eventually_sync(
    probe: Callable[[], T],
    *,
    what: str,
    until: Callable[[T], bool] = _truthy,
    timeout: float = 30.0,
    interval: float = 0.2,
    ignoring: Ignored = (),
    context: Callable[[], str] | None = None,
) -> T:
    """`eventually` for code that cannot await: the same contract, blocking between probes."""
    waiting = _Waiting(what, timeout, context)
    while True:
        try:
            value = probe()
        except ignoring as error:
            waiting.last = error
        else:
            if until(value):
                return value
            waiting.last = value
        if waiting.expired():
            raise waiting.failure()
        time.sleep(interval)
