"""Tumbling windows of predictions per model version, their PSI, and the drift count."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace

from contracts import (
    DriftDetected,
    FeatureDrift,
    Features,
    PredictionMade,
    ReferenceStatistics,
)
from services.monitor.drift import numeric_psi, window_psi

ModelKey = tuple[str, int]


@dataclass(frozen=True)
class WindowPolicy:
    window_size: int = 500
    min_window: int = 100
    psi_threshold: float = 0.2
    drift_windows: int = 2
    # Predictions kept while a version's reference is unknown, in windows; older ones drop.
    max_pending_windows: int = 4

    @property
    def max_pending(self) -> int:
        return self.window_size * self.max_pending_windows


@dataclass(frozen=True)
class Observation:
    features: Features
    prediction: float

    @classmethod
    def of(cls, event: PredictionMade) -> Observation:
        return cls(features=event.features, prediction=event.prediction)


@dataclass(frozen=True)
class WindowReport:
    """PSI of one window; `complete` is False for an early look at a partial first window."""

    model_name: str
    model_version: int
    size: int
    complete: bool
    feature_psi: dict[str, float]
    prediction_psi: float | None
    drifting: bool
    drift: DriftDetected | None = None


@dataclass
class WindowState:
    pending: deque[Observation] = field(default_factory=deque)
    complete_windows: int = 0
    drifting_windows: int = 0
    dropped: int = 0
    last_partial_size: int = 0


class DriftWindows:
    """Per (model, version): collects predictions and turns them into window reports."""

    def __init__(self, policy: WindowPolicy) -> None:
        self.policy = policy
        self._states: dict[ModelKey, WindowState] = {}

    def add(self, key: ModelKey, observation: Observation) -> None:
        state = self._states.setdefault(key, WindowState())
        state.pending.append(observation)
        # Bounded while the reference is missing: the oldest predictions give way.
        while len(state.pending) > self.policy.max_pending:
            state.pending.popleft()
            state.dropped += 1

    def is_full(self, key: ModelKey) -> bool:
        state = self._states.get(key)
        return state is not None and len(state.pending) >= self.policy.window_size

    def model_keys(self) -> list[ModelKey]:
        return list(self._states)

    def states(self) -> list[tuple[ModelKey, WindowState]]:
        return list(self._states.items())

    def state(self, key: ModelKey) -> WindowState | None:
        return self._states.get(key)

    def evaluate(self, key: ModelKey, reference: ReferenceStatistics) -> list[WindowReport]:
        """Reports for every full window pending, then maybe one early partial report.

        The partial report is only made before the first full window of a version, once it
        holds `min_window` predictions, and only when it has grown since the last one.
        """
        state = self._states.get(key)
        if state is None:
            return []
        reports = []
        while len(state.pending) >= self.policy.window_size:
            window = [state.pending.popleft() for _ in range(self.policy.window_size)]
            reports.append(self._complete_window(key, state, window, reference))
        partial = len(state.pending)
        wants_early_look = state.complete_windows == 0 and partial >= self.policy.min_window
        if wants_early_look and partial != state.last_partial_size:
            state.last_partial_size = partial
            reports.append(self._report(key, list(state.pending), reference, complete=False))
        return reports

    def _complete_window(
        self,
        key: ModelKey,
        state: WindowState,
        window: list[Observation],
        reference: ReferenceStatistics,
    ) -> WindowReport:
        report = self._report(key, window, reference, complete=True)
        state.complete_windows += 1
        state.drifting_windows = state.drifting_windows + 1 if report.drifting else 0
        if state.drifting_windows < self.policy.drift_windows:
            return report
        state.drifting_windows = 0
        return _with_drift(report, self.policy)

    def _report(
        self,
        key: ModelKey,
        window: list[Observation],
        reference: ReferenceStatistics,
        *,
        complete: bool,
    ) -> WindowReport:
        features = window_psi([o.features for o in window], reference)
        prediction = numeric_psi((o.prediction for o in window), reference.prediction)
        drifting = any(v >= self.policy.psi_threshold for v in features.values())
        return WindowReport(
            model_name=key[0],
            model_version=key[1],
            size=len(window),
            complete=complete,
            feature_psi=features,
            prediction_psi=prediction,
            drifting=drifting,
        )


def _with_drift(report: WindowReport, policy: WindowPolicy) -> WindowReport:
    ranked = sorted(report.feature_psi.items(), key=lambda item: item[1], reverse=True)
    event = DriftDetected(
        model_name=report.model_name,
        model_version=report.model_version,
        window_size=policy.window_size,
        threshold=policy.psi_threshold,
        features=tuple(FeatureDrift(feature=name, psi=value) for name, value in ranked),
    )
    return replace(report, drift=event)
