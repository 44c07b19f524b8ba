"""Idempotency: the records routed within a horizon, so that none is routed twice.

A record is known by its routing key: its id, and whether it carried a label. The label of a
record that was scored earlier is news, not a duplicate: it is the late label the monitor
joins with that record's prediction (and a training record).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

# (record id, labelled)
RoutingKey = tuple[str, bool]


class SeenIds:
    """Record ids routed in the last `horizon_seconds`, at most `max_ids` of them (oldest go first).

    A horizon of 0 turns idempotency off: nothing is remembered.
    """

    def __init__(
        self,
        horizon_seconds: float,
        max_ids: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._horizon = horizon_seconds
        self._max_ids = max_ids
        self._clock = clock
        self._routed_at: OrderedDict[RoutingKey, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._routed_at)

    @property
    def enabled(self) -> bool:
        return self._horizon > 0

    def contains(self, key: RoutingKey) -> bool:
        """Whether a record with this key was routed within the horizon."""
        routed_at = self._routed_at.get(key)
        return routed_at is not None and self._clock() - routed_at < self._horizon

    def remember(self, keys: Iterable[RoutingKey]) -> None:
        """Note records that were just routed (after their events were acknowledged)."""
        if self._horizon <= 0:
            return
        now = self._clock()
        for key in keys:
            self._routed_at[key] = now
            self._routed_at.move_to_end(key)
        self._forget_old(now)

    def _forget_old(self, now: float) -> None:
        # Insertion order is routing order, so the oldest are always at the front.
        while self._routed_at:
            key, routed_at = next(iter(self._routed_at.items()))
            if now - routed_at < self._horizon and len(self._routed_at) <= self._max_ids:
                return
            del self._routed_at[key]
