"""Idempotency: the records routed within a horizon, so that none is routed twice.

A record is known by its routing key: its data set, its id, and whether it carried a label.
Ids are the senders' own, per data set: the same id in two data sets names two records.
The label of a record that was scored earlier is news, not a duplicate: it is the late label
the monitor joins with that record's prediction (and a training record).

Each key keeps the event id it was routed with. A Kafka message read again after a rebalance
or a crash derives the same event id from its position, so it is told apart from a sender's
duplicate: it is a redelivery, routed again under that same id for consumers to drop.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from uuid import UUID

# (data set, record id, labelled)
RoutingKey = tuple[str, str, bool]


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
        # key -> (when it was routed, the event id it was routed with)
        self._routed_at: OrderedDict[RoutingKey, tuple[float, UUID]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._routed_at)

    @property
    def enabled(self) -> bool:
        return self._horizon > 0

    def routed_as(self, key: RoutingKey) -> UUID | None:
        """The event id a record with this key was routed with within the horizon, if any."""
        routed = self._routed_at.get(key)
        if routed is None or self._clock() - routed[0] >= self._horizon:
            return None
        return routed[1]

    def contains(self, key: RoutingKey) -> bool:
        """Whether a record with this key was routed within the horizon."""
        return self.routed_as(key) is not None

    def remember(self, routed: Mapping[RoutingKey, UUID]) -> None:
        """Note records just routed, with their event ids (after the events were acknowledged)."""
        if self._horizon <= 0:
            return
        now = self._clock()
        for key, event_id in routed.items():
            self._routed_at[key] = (now, event_id)
            self._routed_at.move_to_end(key)
        self._forget_old(now)

    def _forget_old(self, now: float) -> None:
        # Insertion order is routing order, so the oldest are always at the front.
        while self._routed_at:
            key, (routed_at, _) = next(iter(self._routed_at.items()))
            if now - routed_at < self._horizon and len(self._routed_at) <= self._max_ids:
                return
            del self._routed_at[key]
