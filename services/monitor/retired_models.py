"""A retired data set's model loses its gauges, so dashboards show no stale drift or error.

Its counters stay (a rate over them simply falls to zero). The model of a data set is the one
named after it (services.common.settings.model_name_for with no configured name), as the
trainer trains every data set it learns at run time.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from prometheus_client import Gauge

if TYPE_CHECKING:
    from services.common.spec_catalogue import KnownSpec, Listener
    from services.monitor.metrics import MonitorMetrics

log = logging.getLogger(__name__)


def model_gauges(metrics: MonitorMetrics) -> list[Gauge]:
    """Every gauge of the monitor labelled by model (the classifier's too)."""
    found = [*vars(metrics).values(), *vars(metrics.classifier).values()]
    return [value for value in found if isinstance(value, Gauge)]


def remove_model_gauges(metrics: MonitorMetrics, model: str) -> int:
    """Remove every gauge series of `model`; how many were removed."""
    removed = 0
    for gauge in model_gauges(metrics):
        for labels in _series_of(gauge, model):
            gauge.remove(*labels)
            removed += 1
    return removed


def _series_of(gauge: Gauge, model: str) -> list[tuple[str, ...]]:
    """The label values of each of the gauge's series whose `model` label is `model`."""
    return [
        tuple(sample.labels.values())  # in the order the labels were declared
        for family in gauge.collect()
        for sample in family.samples
        if sample.labels.get("model") == model
    ]


def on_retirement(metrics: MonitorMetrics) -> Listener:
    """A catalogue listener: when a data set is retired, remove its model's gauges."""

    def retired(now: KnownSpec, before: KnownSpec | None) -> None:
        if now.retired and not (before is not None and before.retired):
            removed = remove_model_gauges(metrics, now.dataset)
            log.info("monitor: %s retired; %d gauge series removed", now.dataset, removed)

    return retired
