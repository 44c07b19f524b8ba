"""observe_many gives the same exposition as one observe per value."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Histogram

from services.common.metrics import observe_many

VALUES = [0.0, 0.004, 0.005, 0.0051, 0.1, 0.25, 2.5, 7.0, 1e9, 0.005]


def samples(observe: bool) -> list[tuple[str, dict[str, str], float]]:
    registry = CollectorRegistry()
    histogram = Histogram("latency_seconds", "test", registry=registry)
    if observe:
        for value in VALUES:
            histogram.observe(value)
    else:
        observe_many(histogram, VALUES)
    return [
        (sample.name, sample.labels, sample.value)
        for metric in registry.collect()
        for sample in metric.samples
        if not sample.name.endswith("_created")
    ]


def test_observe_many_matches_one_observe_per_value() -> None:
    assert samples(observe=False) == samples(observe=True)


def test_observe_many_of_nothing_changes_nothing() -> None:
    registry = CollectorRegistry()
    histogram = Histogram("empty_seconds", "test", registry=registry)
    observe_many(histogram, [])
    assert registry.get_sample_value("empty_seconds_count") == 0


def test_a_histogram_with_labels_needs_its_child() -> None:
    histogram = Histogram("labelled_seconds", "test", ["model"], registry=CollectorRegistry())
    with pytest.raises(ValueError, match="missing label values"):
        observe_many(histogram, [0.1])
