"""Test oracle: PSI of a whole window recomputed from its raw rows.

The monitor itself counts bins incrementally (services/monitor/accumulate.py and windows.py
hold the real drift rule); this is the straightforward version the tests check it against,
and the baseline of bench/monitor.py. Not shipped: it lives under tests/support.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from contracts import (
    CategoricalReference,
    ColumnReference,
    FeatureValue,
    NumericReference,
    ReferenceStatistics,
)
from services.monitor.accumulate import category_key
from services.monitor.stats import psi

# The bucket of categories the reference never saw; it cannot clash with a real category
# because it is not a string.
_UNSEEN = object()


def numeric_psi(sample: Iterable[float], reference: NumericReference) -> float | None:
    """PSI of numbers binned by the reference edges; None for an empty sample.

    Quantile bins: values below the first edge count in the first bin and above the last
    edge in the last, like np.histogram's half-open bins [a, b) with a closed last bin.
    Discrete bins: values beyond the edges count in two extra bins the reference never
    filled.
    """
    values = np.asarray([v for v in sample if math.isfinite(v)], dtype=float)
    if values.size == 0:
        return None
    bins = len(reference.fractions)
    if len(reference.bin_edges) != bins + 1:
        raise ValueError(
            f"{len(reference.bin_edges)} bin edges do not bound {bins} reference fractions"
        )
    edges = np.asarray(reference.bin_edges, dtype=float)
    expected = np.asarray(reference.fractions, dtype=float)
    if reference.binning == "discrete":
        expected = np.concatenate([[0.0], expected, [0.0]])
    else:
        edges = edges[1:-1]
    indexes = np.searchsorted(edges, values, side="right")
    counts = np.bincount(indexes, minlength=expected.size)
    return psi(expected, counts / values.size)


def categorical_psi(sample: Iterable[str], reference: CategoricalReference) -> float | None:
    """PSI of category frequencies; categories the reference lacks share one extra bucket."""
    counts = Counter(v if v in reference.frequencies else _UNSEEN for v in sample)
    total = sum(counts.values())
    if total == 0:
        return None
    categories = list(reference.frequencies)
    expected = [reference.frequencies[c] for c in categories] + [0.0]
    actual = [counts[c] / total for c in categories] + [counts[_UNSEEN] / total]
    return psi(expected, actual)


def column_psi(values: Iterable[FeatureValue], reference: ColumnReference) -> float | None:
    """PSI of one feature's live values; missing (None) values are left out."""
    present = [v for v in values if v is not None]
    if isinstance(reference, NumericReference):
        return numeric_psi(_numbers(present), reference)
    return categorical_psi((category_key(v) for v in present), reference)


def window_psi(
    rows: Sequence[Mapping[str, FeatureValue]], reference: ReferenceStatistics
) -> dict[str, float]:
    """PSI of every referenced feature that has at least one value in `rows`."""
    result: dict[str, float] = {}
    for name, column in reference.features.items():
        value = column_psi((row.get(name) for row in rows), column)
        if value is not None:
            result[name] = value
    return result


def _numbers(values: Iterable[FeatureValue]) -> list[float]:
    # Strings in a numeric column are a producer bug; skip them rather than fail the window.
    return [float(v) for v in values if isinstance(v, int | float)]
