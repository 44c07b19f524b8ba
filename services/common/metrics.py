"""Prometheus helpers shared by the services."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Sequence

    from prometheus_client import Histogram


def observe_many(
    histogram: Histogram, values: Sequence[float] | np.ndarray[Any, np.dtype[np.float64]]
) -> None:
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
    array = np.asarray(values, dtype=np.float64)
    # side="left": a value equal to a bound falls in that bound's bucket (le = less or equal).
    counts = np.bincount(np.searchsorted(bounds, array, side="left"), minlength=len(bounds))
    for index in np.flatnonzero(counts[: len(bounds)]).tolist():  # NaN is past +Inf: no bucket
        buckets[index].inc(int(counts[index]))  # the last bound is +Inf, so every index exists
    total.inc(float(array.sum()))
