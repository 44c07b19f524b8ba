"""Tumbling windows of predictions per model version, their statistics, and drift decisions."""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal, NamedTuple

from contracts import (
    ClassificationMade,
    DriftDetected,
    FeatureDrift,
    Features,
    FeatureValue,
    PredictionMade,
)
from services.monitor.accumulate import (
    PREDICTION,
    PROBABILITY,
    Baseline,
    DriftRule,
    IntArray,
    WindowCounts,
    WindowStatistics,
    window_statistics,
)
from services.monitor.stats import ColumnStatistics, psi

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

ModelKey = tuple[str, int]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WindowPolicy:
    window_size: int = 500
    min_window: int = 100
    # A window also closes this long after its first prediction, once it holds min_window
    # predictions (None: count windows only). Quiet models still get judged.
    window_seconds: float | None = None
    # A feature drifts when its BH-adjusted p-value < alpha and its effect is large (see
    # DriftRule), or when its missing rate moved by missing_threshold, significantly.
    # Defaults from bench/drift_power.py: the p-value keeps false alarms under 1% of windows
    # by itself, and PSI >= 0.2 missed +30% shifts of wide features, a halved category and
    # 0/1 shifts; 0.05 SD lets a +5% shift of a feature with CV 1 drift once the evidence is
    # there (with the sequential totals and a large enough reference), where 0.1 never does.
    psi_threshold: float = 0.2
    alpha: float = 0.01
    effect: Literal["psi", "distance"] = "distance"
    wasserstein_threshold: float = 0.05
    total_variation_threshold: float = 0.05
    missing_threshold: float = 0.05
    # Also judge the counts of all complete windows of the version so far, with the same rule
    # at sequential_alpha: a small shift that persists gathers evidence instead of being lost
    # window after window. Memory: one more set of bin counts per version.
    sequential: bool = False
    sequential_alpha: float = 0.001
    # The data set drifts when at least this share of its features drift (and at least one).
    drift_share: float = 0.05
    drift_windows: int = 2
    # After a DriftDetected, the same model name raises no other one for this long.
    cooldown_seconds: float = 300.0
    # Predictions kept while a version's reference is unknown, in windows; older ones drop.
    max_pending_windows: int = 4
    # Versions of one model with windows; a newer one pushes out the oldest (memory stays
    # flat however many retrains happen).
    max_versions: int = 4

    @property
    def max_pending(self) -> int:
        return self.window_size * self.max_pending_windows

    @property
    def rule(self) -> DriftRule:
        return DriftRule(
            effect=self.effect,
            psi_threshold=self.psi_threshold,
            wasserstein_threshold=self.wasserstein_threshold,
            total_variation_threshold=self.total_variation_threshold,
            missing_threshold=self.missing_threshold,
            alpha=self.alpha,
        )

    @property
    def sequential_rule(self) -> DriftRule:
        return replace(self.rule, alpha=self.sequential_alpha)


class Observation(NamedTuple):
    """One prediction as the windows need it (a tuple: made once per event, so cheap)."""

    features: Features
    prediction: float | str  # a number, or a classifier's class
    probabilities: Mapping[str, float] | None = None  # a classifier's, by class

    @classmethod
    def of(cls, event: PredictionMade | ClassificationMade) -> Observation:
        if isinstance(event, ClassificationMade):
            return cls(event.features, event.prediction, event.probabilities)
        return cls(features=event.features, prediction=event.prediction)


@dataclass(frozen=True)
class WindowReport:
    """Statistics of one window; `complete` is False for an early look at a partial window."""

    model_name: str
    model_version: int
    size: int
    complete: bool
    statistics: WindowStatistics
    counts: dict[str, IntArray]
    drifting: bool
    drift: DriftDetected | None = None
    suppressed: bool = False  # drift held, but the model name was in its cooldown
    # With the sequential option: the statistics of all complete windows of the version so
    # far (this one included), and how many predictions they hold.
    sequential: WindowStatistics | None = None
    sequential_size: int = 0

    @property
    def feature_psi(self) -> dict[str, float]:
        return {name: s.psi for name, s in self.statistics.features.items()}

    def drifting_features(self) -> set[str]:
        """Features that drift in this window or, with the sequential option, in the totals."""
        judged = [self.statistics] + ([self.sequential] if self.sequential else [])
        return {name for w in judged for name, s in w.features.items() if s.drifting}

    def drifting_outputs(self) -> set[str]:
        """A classifier's outputs that drift, by their name in a DriftDetected event."""
        judged = [self.statistics] + ([self.sequential] if self.sequential else [])
        return {
            name
            for w in judged
            if w.output_drifting
            for name, s in w.outputs().items()
            if s.drifting
        }

    @property
    def prediction_psi(self) -> float | None:
        prediction = self.statistics.prediction
        return None if prediction is None else prediction.psi


class CarriedCounts(NamedTuple):
    """An open window's bin counts from a checkpoint, taken in once the reference is known."""

    size: int
    counts: dict[str, list[int]]


@dataclass
class WindowState:
    pending: deque[Observation] = field(default_factory=deque)
    counts: WindowCounts | None = None
    carried: CarriedCounts | None = None
    complete_windows: int = 0
    drifting_windows: int = 0
    dropped: int = 0
    last_partial_size: int = 0
    last_report: WindowReport | None = None
    baseline: Baseline | None = None
    opened_at: float | None = None
    # The sequential option's counts of all complete windows (None when it is off).
    totals: WindowCounts | None = None
    carried_totals: CarriedCounts | None = None

    @property
    def open_size(self) -> int:
        """Predictions of the window not complete yet, counted or still waiting."""
        if self.counts is not None:
            return self.counts.size + len(self.pending)
        return (self.carried.size if self.carried is not None else 0) + len(self.pending)


class DriftWindows:
    """Per (model, version): collects predictions and turns them into window reports."""

    def __init__(self, policy: WindowPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self.clock = clock
        self._states: dict[ModelKey, WindowState] = {}
        # Model name -> clock time of its last DriftDetected (the cooldown starts there).
        self.last_drift: dict[str, float] = {}

    def add(self, key: ModelKey, observation: Observation) -> None:
        state = self._states.get(key)
        if state is None:
            state = self._states[key] = WindowState()
            self._evict_old_versions(key[0])
        state.pending.append(observation)
        # Bounded while the reference is missing: the oldest predictions give way.
        while len(state.pending) > self.policy.max_pending:
            state.pending.popleft()
            state.dropped += 1

    def _evict_old_versions(self, model_name: str) -> None:
        versions = sorted(v for name, v in self._states if name == model_name)
        for version in versions[: max(0, len(versions) - self.policy.max_versions)]:
            del self._states[(model_name, version)]

    def is_full(self, key: ModelKey) -> bool:
        state = self._states.get(key)
        if state is None:
            return False
        return state.open_size >= self.policy.window_size

    def model_keys(self) -> list[ModelKey]:
        return list(self._states)

    def states(self) -> list[tuple[ModelKey, WindowState]]:
        return list(self._states.items())

    def state(self, key: ModelKey) -> WindowState | None:
        return self._states.get(key)

    def restore(self, key: ModelKey, state: WindowState) -> None:
        """Puts back a version's window from a checkpoint."""
        self._states[key] = state

    def evaluate(self, key: ModelKey, baseline: Baseline) -> list[WindowReport]:
        """Counts the pending predictions in batches; a report for every window completed,
        then maybe one early look at the partial first window.

        The early look is only made before the first full window of a version, once it holds
        `min_window` predictions, and only when it has grown since the last one.
        """
        state = self._states.get(key)
        if state is None:
            return []
        if state.counts is None:
            self._start_counting(key, state, baseline)
        now = self.clock()
        reports = self._count_pending(key, state, baseline, now)
        if self._time_is_up(state, now):
            reports.append(self._close(key, state, baseline))
        early_look = self._early_look(key, state, baseline)
        if early_look is not None:
            reports.append(early_look)
        if reports:
            state.last_report = reports[-1]
        return reports

    def _start_counting(self, key: ModelKey, state: WindowState, baseline: Baseline) -> None:
        """Bins for the reference now known, filled with the checkpointed counts if they fit."""
        state.counts = WindowCounts.for_reference(baseline.reference)
        state.baseline = baseline
        if state.carried is not None:
            if not state.counts.load(*state.carried):
                log.info("%s v%d: checkpointed counts do not fit; window restarts", *key)
            state.carried = None
        if self.policy.sequential:
            state.totals = WindowCounts.for_reference(baseline.reference)
            if state.carried_totals is not None:
                state.totals.load(*state.carried_totals)
        state.carried_totals = None

    def _count_pending(
        self, key: ModelKey, state: WindowState, baseline: Baseline, now: float
    ) -> list[WindowReport]:
        """Counts the pending predictions in batches; a report for every window they fill."""
        counts = state.counts
        assert counts is not None
        reports = []
        while state.pending:
            take = min(self.policy.window_size - counts.size, len(state.pending))
            batch = [state.pending.popleft() for _ in range(take)]
            if counts.size == 0:
                state.opened_at = now
            counts.add_batch(columns(batch, counts.bins), take)
            if counts.size >= self.policy.window_size:
                reports.append(self._close(key, state, baseline))
        return reports

    def _early_look(
        self, key: ModelKey, state: WindowState, baseline: Baseline
    ) -> WindowReport | None:
        """A partial report of the version's first window, when it is big enough and grew."""
        counts = state.counts
        assert counts is not None
        if state.complete_windows > 0 or counts.size < self.policy.min_window:
            return None
        if counts.size == state.last_partial_size:
            return None
        state.last_partial_size = counts.size
        return self._report(key, counts, baseline, complete=False)

    def _time_is_up(self, state: WindowState, now: float) -> bool:
        seconds = self.policy.window_seconds
        return (
            seconds is not None
            and state.opened_at is not None
            and state.counts is not None
            and state.counts.size >= self.policy.min_window
            and now - state.opened_at >= seconds
        )

    def _close(self, key: ModelKey, state: WindowState, baseline: Baseline) -> WindowReport:
        report = self._complete_window(key, state, baseline)
        assert state.counts is not None
        state.counts.reset()
        state.opened_at = None
        return report

    def _complete_window(
        self, key: ModelKey, state: WindowState, baseline: Baseline
    ) -> WindowReport:
        assert state.counts is not None
        report = self._report(key, state.counts, baseline, complete=True)
        if state.totals is not None:
            state.totals.add(state.counts)
            report = self._with_totals(report, state.totals, baseline)
        state.complete_windows += 1
        state.drifting_windows = state.drifting_windows + 1 if report.drifting else 0
        if state.drifting_windows < self.policy.drift_windows:
            return report
        state.drifting_windows = 0
        now = self.clock()
        last = self.last_drift.get(key[0])
        if last is not None and now - last < self.policy.cooldown_seconds:
            return replace(report, suppressed=True)
        self.last_drift[key[0]] = now
        return _with_drift(report, self.policy)

    def _with_totals(
        self, report: WindowReport, totals: WindowCounts, baseline: Baseline
    ) -> WindowReport:
        statistics = window_statistics(totals, baseline.size, self.policy.sequential_rule)
        report = replace(report, sequential=statistics, sequential_size=totals.size)
        return replace(report, drifting=report.drifting or self._drifting(statistics))

    def _drifting(self, statistics: WindowStatistics) -> bool:
        """Enough features drift, or a classifier's outputs do (as a feature would)."""
        drifting_features = sum(s.drifting for s in statistics.features.values())
        features_drift = drifting_features > 0 and statistics.drift_share >= self.policy.drift_share
        return features_drift or statistics.output_drifting

    def _report(
        self, key: ModelKey, counts: WindowCounts, baseline: Baseline, *, complete: bool
    ) -> WindowReport:
        statistics = window_statistics(counts, baseline.size, self.policy.rule)
        drifting = self._drifting(statistics)
        return WindowReport(
            model_name=key[0],
            model_version=key[1],
            size=counts.size,
            complete=complete,
            statistics=statistics,
            counts=counts.snapshot(),
            drifting=drifting,
        )


def columns(
    batch: Sequence[Observation], names: Iterable[str]
) -> dict[str, list[FeatureValue | float]]:
    """The batch as one list per column, the shape the vectorised counting wants."""
    result: dict[str, list[FeatureValue | float]] = {
        name: [o.features.get(name) for o in batch] for name in names if name != PREDICTION
    }
    result[PREDICTION] = [o.prediction for o in batch]
    for name in names:
        if name.startswith(PROBABILITY):
            class_name = name.removeprefix(PROBABILITY)
            result[name] = [_probability(o, class_name) for o in batch]
    return result


def _probability(observation: Observation, class_name: str) -> float | None:
    probabilities = observation.probabilities
    return None if probabilities is None else probabilities.get(class_name)


def _with_drift(report: WindowReport, policy: WindowPolicy) -> WindowReport:
    """The event names every feature, drifting ones first, then by PSI: the larger of its
    values' PSI and the PSI of its present and missing shares (see _ranking_psi). A
    classifier's drifting outputs are named among them ("prediction:class",
    "probability:<class>": never a feature's name)."""
    drifting = report.drifting_features() | report.drifting_outputs()
    outputs = report.statistics.outputs()
    named = report.statistics.features | {n: outputs[n] for n in drifting if n in outputs}
    ranked = sorted(
        ((name, _ranking_psi(s)) for name, s in named.items()),
        key=lambda item: (item[0] not in drifting, -item[1]),
    )
    event = DriftDetected(
        model_name=report.model_name,
        model_version=report.model_version,
        window_size=report.size,
        threshold=policy.rule.threshold,
        features=tuple(FeatureDrift(feature=name, psi=value) for name, value in ranked),
    )
    return replace(report, drift=event)


def _ranking_psi(s: ColumnStatistics) -> float:
    """How far a feature moved, in PSI: its values' PSI or, when larger, its missing share's.

    A feature half of whose rows stopped carrying it still has values (with their old
    distribution): ranked by those alone, it would sit behind a small shift elsewhere.
    """
    values = s.psi if s.present else 0.0
    m = s.missing
    if m is None:
        return values
    shares = psi([1 - m.reference_rate, m.reference_rate], [1 - m.rate, m.rate])
    return max(values, shares)
