"""Prometheus helpers shared by the services."""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Sequence

from prometheus_client import Histogram


def observe_many(histogram: Histogram, values: Sequence[float]) -> None:
    """`histogram.observe` for each value, with one increment per bucket instead of one per value.

    Hot paths observe a value per record; the loop in `observe` then costs about as much as
    scoring the record. This relies on prometheus_client's histogram layout (non-cumulative
    `_buckets` over `_upper_bounds`, plus `_sum`) and falls back to `observe` without it.
    """
    buckets, bounds, total = (
        getattr(histogram, name, None) for name in ("_buckets", "_upper_bounds", "_sum")
    )
    if buckets is None or bounds is None or total is None:
        for value in values:
            histogram.observe(value)
        return
    histogram._raise_if_not_observable()  # type: ignore[no-untyped-call]  # refuses a parent with labels
    for index, count in Counter(bisect_left(bounds, value) for value in values).items():
        buckets[index].inc(count)  # the last bound is +Inf, so every index exists
    total.inc(sum(values))
