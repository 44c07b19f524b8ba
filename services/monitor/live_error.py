"""Live error: labels that arrive after their predictions, joined by data set and record id.

Both sides wait in bounded buffers for at most `horizon_seconds`; each joined pair adds its
error to a tumbling window per (model, version, role), where role is "champion" for served
predictions and "shadow" for a challenger's shadow results. A classifier's prediction (a class
and its probabilities) joined with a class label goes to a sliding window of the latest rows
instead (class_window.py).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple, TypeVar

from services.monitor.class_window import ClassWindow

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from contracts import TargetValue

# What joins a label with its predictions: the (data set, record id) of
# services.monitor.record_keys in the service; anything hashable will do.
RecordKey = Hashable

T = TypeVar("T")
ErrorKey = tuple[str, int, str]  # model name, version, role


class Scored(NamedTuple):
    """A prediction waiting for its label (a tuple: made once per event, so cheap)."""

    model_name: str
    model_version: int
    role: str
    prediction: float | str  # a number, or a classifier's class
    probabilities: Mapping[str, float] | None = None  # a classifier's, by class

    @property
    def key(self) -> ErrorKey:
        return (self.model_name, self.model_version, self.role)


@dataclass(frozen=True)
class ErrorSummary:
    rmse: float
    mae: float
    count: int
    complete: bool


@dataclass
class ErrorWindow:
    """Sums of one tumbling window of errors; `last` is the latest complete window."""

    size: int
    squared: float = 0.0
    absolute: float = 0.0
    count: int = 0
    windows: int = 0
    last: ErrorSummary | None = None

    def add(self, error: float) -> None:
        self.squared += error * error
        self.absolute += abs(error)
        self.count += 1
        if self.count >= self.size:
            self.last = self._summary(complete=True)
            self.windows += 1
            self.squared = self.absolute = 0.0
            self.count = 0

    def current(self) -> ErrorSummary | None:
        """The latest complete window, or the partial first one."""
        if self.last is not None:
            return self.last
        return self._summary(complete=False) if self.count else None

    def _summary(self, *, complete: bool) -> ErrorSummary:
        return ErrorSummary(
            rmse=math.sqrt(self.squared / self.count),
            mae=self.absolute / self.count,
            count=self.count,
            complete=complete,
        )


@dataclass
class JoinCounts:
    joined: int = 0
    expired_predictions: int = 0
    expired_labels: int = 0


@dataclass
class LabelJoiner:
    capacity: int = 100_000
    horizon_seconds: float = 3600.0
    window_size: int = 200
    class_window_size: int = 2000
    clock: Callable[[], float] = time.monotonic
    windows: dict[ErrorKey, ErrorWindow] = field(default_factory=dict)
    classified: dict[ErrorKey, ClassWindow] = field(default_factory=dict)
    counts: JoinCounts = field(default_factory=JoinCounts)
    _predictions: OrderedDict[RecordKey, tuple[float, list[Scored]]] = field(
        default_factory=OrderedDict
    )
    _labels: OrderedDict[RecordKey, tuple[float, TargetValue]] = field(default_factory=OrderedDict)

    def add_predictions(self, predictions: Iterable[tuple[RecordKey, Scored]]) -> set[ErrorKey]:
        """Joins predictions with labels already seen, keeps the others; keys that changed."""
        now = self.clock()
        touched: set[ErrorKey] = set()
        for key, scored in predictions:
            label = self._labels.get(key)
            if label is not None:
                if self._score(scored, label[1]):
                    touched.add(scored.key)
                continue
            entry = self._predictions.get(key)
            if entry is None:
                self._predictions[key] = (now, [scored])
            else:
                entry[1].append(scored)
        self._expire(now)
        return touched

    def add_labels(self, labels: Iterable[tuple[RecordKey, float | str]]) -> set[ErrorKey]:
        """Joins labels with their waiting predictions; labels are kept for later shadows."""
        now = self.clock()
        touched: set[ErrorKey] = set()
        for key, target in labels:
            waiting = self._predictions.pop(key, None)
            for scored in waiting[1] if waiting else ():
                if self._score(scored, target):
                    touched.add(scored.key)
            self._labels[key] = (now, target)
            self._labels.move_to_end(key)
        self._expire(now)
        return touched

    def buffered(self) -> tuple[int, int]:
        return len(self._predictions), len(self._labels)

    def _score(self, scored: Scored, target: TargetValue) -> bool:
        """Adds the pair to its window; False when prediction and label do not go together
        (a number and a class, or a class the model does not know)."""
        if scored.probabilities is not None:
            added = isinstance(target, str) and self._classify(scored, target)
        elif not isinstance(scored.prediction, str) and isinstance(target, int | float):
            window = self.windows.get(scored.key)
            if window is None:
                window = self.windows[scored.key] = ErrorWindow(self.window_size)
            window.add(scored.prediction - target)
            added = True
        else:
            added = False
        self.counts.joined += int(added)
        return added

    def _classify(self, scored: Scored, label: str) -> bool:
        assert scored.probabilities is not None
        window = self.classified.get(scored.key)
        if window is None:
            classes = tuple(scored.probabilities)
            window = self.classified[scored.key] = ClassWindow(classes, self.class_window_size)
        return window.add(label, str(scored.prediction), scored.probabilities)

    def _expire(self, now: float) -> None:
        self.counts.expired_predictions += _trim(self._predictions, now, self)
        self.counts.expired_labels += _trim(self._labels, now, self)


def _trim(buffer: OrderedDict[RecordKey, tuple[float, T]], now: float, joiner: LabelJoiner) -> int:
    """Drops entries past the horizon or beyond capacity, oldest first (insertion order)."""
    dropped = 0
    deadline = now - joiner.horizon_seconds
    while buffer:
        _, (seen, _) = next(iter(buffer.items()))
        if len(buffer) <= joiner.capacity and seen >= deadline:
            break
        buffer.popitem(last=False)
        dropped += 1
    return dropped
