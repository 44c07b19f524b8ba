"""The monitor's countable state, captured into a checkpoint and restored from one.

Times travel as wall-clock seconds: the windows' clock is monotonic, which means nothing in
another process.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from services.monitor.checkpointing.format import (
    CarriedClassWindow,
    CarriedErrorWindow,
    CarriedWindow,
    CounterValue,
    MonitorState,
    pack_ids,
    unpack_ids,
)
from services.monitor.class_window import ClassWindow
from services.monitor.live_error import ErrorKey, ErrorSummary, ErrorWindow, JoinCounts
from services.monitor.windows import CarriedCounts, DriftWindows, ModelKey, WindowState

if TYPE_CHECKING:
    from services.monitor.accumulate import WindowCounts
    from services.monitor.metrics import MonitorMetrics
    from services.monitor.processor import PredictionProcessor

Clock = Callable[[], float]


def wall_offset(windows: DriftWindows, wall: Clock = time.time) -> float:
    """Wall-clock minus the windows' clock; taken once, so that equal states encode equally."""
    return wall() - windows.clock()


def capture(
    processor: PredictionProcessor, metrics: MonitorMetrics, *, ids: int, to_wall: float
) -> MonitorState:
    """The state now, with at most `ids` of the latest event ids per input; `to_wall` comes
    from `wall_offset`."""
    windows = processor.windows
    counts = processor.joiner.counts
    return MonitorState(
        counters={
            name: [CounterValue(labels=labels, value=value) for labels, value in samples]
            for name, samples in metrics.counter_values().items()
        },
        windows=[_carry_window(key, state, to_wall) for key, state in windows.states()],
        last_drift={name: at + to_wall for name, at in windows.last_drift.items()},
        errors=[_carry_errors(key, w) for key, w in processor.joiner.windows.items()],
        classified=[_carry_classes(key, w) for key, w in processor.joiner.classified.items()],
        joined=counts.joined,
        expired_predictions=counts.expired_predictions,
        expired_labels=counts.expired_labels,
        recent_ids={name: pack_ids(r.latest(ids)) for name, r in processor.recent_ids.items()},
        outbox=list(processor.outbox),
    )


def restore(
    state: MonitorState,
    processor: PredictionProcessor,
    metrics: MonitorMetrics,
    *,
    wall: Clock = time.time,
) -> None:
    """Puts `state` into a fresh processor and its metrics."""
    windows = processor.windows
    to_clock = windows.clock() - wall()
    metrics.restore_counters(
        {name: [(v.labels, v.value) for v in values] for name, values in state.counters.items()}
    )
    for carried in state.windows:
        key = (carried.model_name, carried.model_version)
        windows.restore(key, _window_state(carried, to_clock))
    windows.last_drift.update({name: at + to_clock for name, at in state.last_drift.items()})
    for error in state.errors:
        error_key = (error.model_name, error.model_version, error.role)
        window = processor.joiner.windows[error_key] = _error_window(error)
        if (summary := window.current()) is not None:
            metrics.record_error(error_key, summary)  # the gauges show what they showed
    for carried_classes in state.classified:
        class_key = (
            carried_classes.model_name,
            carried_classes.model_version,
            carried_classes.role,
        )
        classes = processor.joiner.classified[class_key] = _class_window(carried_classes)
        if (scores := classes.scores()) is not None:
            metrics.classifier.record_scores(class_key, scores)
    processor.restore_join_counts(
        JoinCounts(state.joined, state.expired_predictions, state.expired_labels)
    )
    for name, packed in state.recent_ids.items():
        if name in processor.recent_ids:
            processor.recent_ids[name].remember(unpack_ids(packed))
    processor.outbox.extend(state.outbox)


def _carry_window(key: ModelKey, state: WindowState, to_wall: float) -> CarriedWindow:
    size, counts = _carried_counts(state.counts, state.carried)
    totals_size, totals = _carried_counts(state.totals, state.carried_totals)
    return CarriedWindow(
        model_name=key[0],
        model_version=key[1],
        size=size,
        counts=counts,
        totals_size=totals_size,
        totals=totals,
        complete_windows=state.complete_windows,
        drifting_windows=state.drifting_windows,
        dropped=state.dropped,
        last_partial_size=state.last_partial_size,
        opened_at=None if state.opened_at is None else state.opened_at + to_wall,
    )


def _carried_counts(
    counts: WindowCounts | None, carried: CarriedCounts | None
) -> tuple[int, dict[str, list[int]]]:
    if counts is not None:
        return counts.size, {n: c.tolist() for n, c in counts.counts.items()}
    if carried is not None:  # restored, reference not known yet
        return carried.size, carried.counts
    return 0, {}


def _window_state(carried: CarriedWindow, to_clock: float) -> WindowState:
    totals = carried.totals
    return WindowState(
        carried=CarriedCounts(carried.size, carried.counts) if carried.counts else None,
        carried_totals=CarriedCounts(carried.totals_size, totals) if totals else None,
        complete_windows=carried.complete_windows,
        drifting_windows=carried.drifting_windows,
        dropped=carried.dropped,
        last_partial_size=carried.last_partial_size,
        opened_at=None if carried.opened_at is None else carried.opened_at + to_clock,
    )


def _carry_errors(key: ErrorKey, window: ErrorWindow) -> CarriedErrorWindow:
    last = window.last
    return CarriedErrorWindow(
        model_name=key[0],
        model_version=key[1],
        role=key[2],
        size=window.size,
        squared=window.squared,
        absolute=window.absolute,
        count=window.count,
        windows=window.windows,
        last=None if last is None else (last.rmse, last.mae, last.count),
    )


def _error_window(carried: CarriedErrorWindow) -> ErrorWindow:
    last = carried.last
    return ErrorWindow(
        size=carried.size,
        squared=carried.squared,
        absolute=carried.absolute,
        count=carried.count,
        windows=carried.windows,
        last=None if last is None else ErrorSummary(*last, complete=True),
    )


_INDEX, _PROBABILITY = np.dtype("<i2"), np.dtype("<f4")


def _restore_classified(
    carried: list[CarriedClassWindow], processor: PredictionProcessor, metrics: MonitorMetrics
) -> None:
    """The classifiers' score windows, and their gauges as they were."""
    for window in carried:
        key = (window.model_name, window.model_version, window.role)
        restored = processor.joiner.classified[key] = _class_window(window)
        if (scores := restored.scores()) is not None:
            metrics.classifier.record_scores(key, scores)


def _carry_classes(key: ErrorKey, window: ClassWindow) -> CarriedClassWindow:
    labels, predicted, probabilities = window.rows()
    return CarriedClassWindow(
        model_name=key[0],
        model_version=key[1],
        role=key[2],
        classes=window.classes,
        size=window.size,
        positive=window.positive,
        joined=window.joined,
        labels=labels.astype(_INDEX).tobytes(),
        predicted=predicted.astype(_INDEX).tobytes(),
        probabilities=probabilities.astype(_PROBABILITY).tobytes(),
    )


def _class_window(carried: CarriedClassWindow) -> ClassWindow:
    window = ClassWindow(carried.classes, carried.size, positive=carried.positive)
    window.restore(
        carried.joined,
        np.frombuffer(carried.labels, _INDEX).astype(np.int64),
        np.frombuffer(carried.predicted, _INDEX).astype(np.int64),
        np.frombuffer(carried.probabilities, _PROBABILITY)
        .astype(np.float64)
        .reshape(-1, len(carried.classes)),
    )
    return window
