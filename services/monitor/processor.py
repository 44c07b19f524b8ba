"""From PredictionMade events to windows, metrics and DriftDetected events."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from uuid import UUID

from contracts import DriftDetected, PredictionMade
from services.monitor.metrics import MonitorMetrics
from services.monitor.reference_client import ReferenceSource
from services.monitor.windows import DriftWindows, ModelKey, Observation

log = logging.getLogger(__name__)

PublishDrift = Callable[[DriftDetected], Awaitable[None]]


class RecentIds:
    """The last `capacity` event ids, to drop redeliveries (at-least-once delivery)."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._ids: OrderedDict[UUID, None] = OrderedDict()

    def first_time(self, event_id: UUID) -> bool:
        if event_id in self._ids:
            return False
        self._ids[event_id] = None
        if len(self._ids) > self._capacity:
            self._ids.popitem(last=False)
        return True


class PredictionProcessor:
    """Feeds windows, evaluates them once a reference is known, publishes drift events.

    Drift events wait in an outbox until published, so a failed publish is retried on the
    next batch or sweep with the same event_id (consumers deduplicate by it).
    """

    def __init__(
        self,
        windows: DriftWindows,
        references: ReferenceSource,
        metrics: MonitorMetrics,
        publish: PublishDrift,
        *,
        dedupe_capacity: int = 10_000,
    ) -> None:
        self.windows = windows
        self._references = references
        self._metrics = metrics
        self._publish = publish
        self._seen = RecentIds(dedupe_capacity)
        self.outbox: list[DriftDetected] = []

    async def process(self, events: Iterable[PredictionMade]) -> None:
        touched: dict[ModelKey, None] = {}  # ordered set
        for event in events:
            if not self._seen.first_time(event.event_id):
                continue
            key = (event.model_name, event.model_version)
            self.windows.add(key, Observation.of(event))
            self._metrics.count_prediction(key)
            touched[key] = None
            if self.windows.is_full(key):
                # Evaluate at each window boundary: a batch larger than the pending bound
                # must not push out predictions whose reference is known.
                await self._evaluate(key)
        for key in touched:
            await self._evaluate(key)
        await self.flush()

    async def sweep(self) -> None:
        """Evaluate predictions that waited for a reference, and retry unpublished events."""
        for key in self.windows.model_keys():
            await self._evaluate(key)
        await self.flush()

    async def flush(self) -> None:
        while self.outbox:
            event = self.outbox[0]
            try:
                await self._publish(event)
            except Exception as exc:  # broker trouble: keep the event and try again later
                log.warning("DriftDetected for %s not published yet: %s", event.model_name, exc)
                return
            self.outbox.pop(0)

    async def _evaluate(self, key: ModelKey) -> None:
        state = self.windows.state(key)
        if state is None or not state.pending:
            return
        reference = await self._references.get(*key)
        if reference is None:
            return
        for report in self.windows.evaluate(key, reference):
            self._metrics.record(report)
            if report.drift is not None:
                log.info("drift detected for %s v%d: %s", *key, report.drift.features[:3])
                self.outbox.append(report.drift)
