"""From PredictionMade and ClassificationMade events to windows, metrics and DriftDetected."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from itertools import islice
from typing import TYPE_CHECKING

from contracts import ClassificationMade, DriftDetected, PredictionMade, RecordIngested
from services.monitor.accumulate import PREDICTION, Baseline, LabelDrift, label_drift
from services.monitor.live_error import ErrorKey, JoinCounts, LabelJoiner, Scored
from services.monitor.record_keys import RecordKeys
from services.monitor.windows import DriftWindows, ModelKey, Observation

if TYPE_CHECKING:
    from uuid import UUID

    from services.monitor.metrics import MonitorMetrics
    from services.monitor.reference_client import ReferenceSource

log = logging.getLogger(__name__)

PublishDrift = Callable[[DriftDetected], Awaitable[None]]
Prediction = PredictionMade | ClassificationMade


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

    def latest(self, count: int) -> list[UUID]:
        """The `count` most recent ids, oldest first."""
        return list(islice(reversed(self._ids), count))[::-1]

    def remember(self, event_ids: Iterable[UUID]) -> None:
        for event_id in event_ids:
            self.first_time(event_id)


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
        joiner: LabelJoiner | None = None,
        keys: RecordKeys | None = None,
    ) -> None:
        self.windows = windows
        self._references = references
        self._metrics = metrics
        self._publish = publish
        self._seen = RecentIds(dedupe_capacity)
        self._seen_shadow = RecentIds(dedupe_capacity)
        self._seen_labels = RecentIds(dedupe_capacity)
        self.joiner = joiner or LabelJoiner()
        self._keys = keys or RecordKeys()
        self._expired_seen: dict[str, int] = {}
        self.outbox: list[DriftDetected] = []
        self.label_drift: dict[ModelKey, LabelDrift] = {}

    @property
    def recent_ids(self) -> dict[str, RecentIds]:
        """The dedupe memory of each input, by name."""
        return {"predictions": self._seen, "shadow": self._seen_shadow, "labels": self._seen_labels}

    def restore_join_counts(self, counts: JoinCounts) -> None:
        """The joiner's counts from a checkpoint (whose metrics already carry them)."""
        self.joiner.counts = counts
        self._expired_seen = {
            "expired_prediction": counts.expired_predictions,
            "expired_label": counts.expired_labels,
        }

    async def process(self, events: Iterable[Prediction]) -> None:
        counted: dict[ModelKey, int] = {}  # ordered: first seen first
        fresh = [e for e in events if self._seen.first_time(e.event_id)]
        self._join_predictions(fresh, role="champion")
        for event in fresh:
            key = (event.model_name, event.model_version)
            self.windows.add(key, Observation.of(event))
            counted[key] = counted.get(key, 0) + 1
            if self.windows.is_full(key):
                # Evaluate at each window boundary: a batch larger than the pending bound
                # must not push out predictions whose reference is known.
                await self._evaluate(key)
        for key, count in counted.items():
            self._metrics.count_predictions(key, count)  # once per batch: labels() is slow
            await self._evaluate(key)
        await self.flush()

    def process_shadow(self, events: Iterable[Prediction]) -> None:
        """A challenger's shadow results: live error only (they never reach users)."""
        self._join_predictions(
            [e for e in events if self._seen_shadow.first_time(e.event_id)], role="shadow"
        )

    def process_labels(self, records: Iterable[RecordIngested]) -> None:
        labels = [
            (self._keys.of_label(r.dataset, r.record_id), r.target)
            for r in records
            # A number scores a regressor, a class a classifier (the joiner pairs them).
            if r.target is not None and self._seen_labels.first_time(r.event_id)
        ]
        before = self.joiner.counts.joined
        self._record_errors(self.joiner.add_labels(labels))
        self._metrics.labels_joined.labels(outcome="joined").inc(self.joiner.counts.joined - before)
        self._count_expired()

    def _join_predictions(self, events: list[Prediction], role: str) -> None:
        before = self.joiner.counts.joined
        keys = self._keys
        scored = [(keys.of_prediction(e.model_name, e.record_id), _scored(e, role)) for e in events]
        self._record_errors(self.joiner.add_predictions(scored))
        self._metrics.labels_joined.labels(outcome="joined").inc(self.joiner.counts.joined - before)
        self._count_expired()

    def _record_errors(self, keys: Iterable[ErrorKey]) -> None:
        for key in keys:
            if key in self.joiner.classified:
                self._record_classification(key)
                continue
            summary = self.joiner.windows[key].current()
            if summary is not None:
                self._metrics.record_error(key, summary)

    def _record_classification(self, key: ErrorKey) -> None:
        """Live scores of the window; for the champion, label drift once labels suffice."""
        window = self.joiner.classified[key]
        model_key = (key[0], key[1])
        baseline = self._baseline(model_key)
        if baseline is not None and baseline.positive is not None:
            window.positive = baseline.positive
        scores = window.scores()
        if scores is None:
            return
        self._metrics.classifier.record_scores(key, scores)
        if baseline is None or baseline.reference.labels is None or key[2] != "champion":
            return
        if scores.count < self.windows.policy.min_window:
            return
        drift = label_drift(
            baseline.reference.labels, window.label_names(), baseline.size, self.windows.policy.rule
        )
        # Kept for the versions with windows only (older ones are evicted with theirs).
        known = set(self.windows.model_keys())
        self.label_drift = {k: v for k, v in self.label_drift.items() if k in known}
        self.label_drift[model_key] = drift
        self._metrics.classifier.record_labels(model_key, drift.statistics, drift.shares)

    def _count_expired(self) -> None:
        counts = self.joiner.counts
        for outcome, total in (
            ("expired_prediction", counts.expired_predictions),
            ("expired_label", counts.expired_labels),
        ):
            # Counters only go up: add what the joiner dropped since the last look.
            self._metrics.labels_joined.labels(outcome=outcome).inc(
                total - self._expired_seen.get(outcome, 0)
            )
            self._expired_seen[outcome] = total

    def _baseline(self, key: ModelKey) -> Baseline | None:
        """The version's baseline, once its windows have fetched it."""
        state = self.windows.state(key)
        return state.baseline if state is not None else None

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
        if state is None or (not state.pending and state.opened_at is None):
            return
        baseline = await self._references.get(*key)
        if baseline is None:
            return
        self._metrics.record_baseline(key, baseline)
        for report in self.windows.evaluate(key, baseline):
            self._metrics.record(report)
            self._metrics.record_distribution(key, baseline, report.counts[PREDICTION])
            if report.drift is not None:
                log.info("drift detected for %s v%d: %s", *key, report.drift.features[:3])
                self.outbox.append(report.drift)


def _scored(event: Prediction, role: str) -> Scored:
    if isinstance(event, ClassificationMade):
        return Scored(
            event.model_name, event.model_version, role, event.prediction, event.probabilities
        )
    return Scored(event.model_name, event.model_version, role, event.prediction)
