"""Reference statistics of the training data: the monitor's baseline for drift."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from contracts import (
    BooleanFeature,
    CategoricalFeature,
    CategoricalReference,
    ColumnReference,
    DatasetSpec,
    NumericReference,
    ReferenceStatistics,
)

QUANTILE_BINS = 10


def reference_statistics(
    frame: pd.DataFrame, spec: DatasetSpec, predictions: Iterable[float]
) -> ReferenceStatistics:
    """Bins or frequencies of every feature with values in `frame`, and of the predictions.

    Missing values (NaN, "") are left out, as the monitor leaves out None.
    """
    features: dict[str, ColumnReference] = {}
    for feature in spec.features:
        column = frame[feature.name]
        reference: ColumnReference | None
        if isinstance(feature, CategoricalFeature):
            reference = categorical_reference(column[column != ""], feature.categories)
        elif isinstance(feature, BooleanFeature):
            reference = boolean_reference(column.dropna())
        else:
            reference = numeric_reference(column.dropna().to_numpy())
        if reference is not None:
            features[feature.name] = reference
    prediction = numeric_reference(np.asarray(list(predictions), dtype=np.float64))
    if prediction is None:
        raise ValueError("reference statistics need at least one prediction")
    return ReferenceStatistics(features=features, prediction=prediction)


def numeric_reference(
    values: np.ndarray[Any, np.dtype[np.floating[Any]]], bins: int = QUANTILE_BINS
) -> NumericReference | None:
    """Quantile bins (unique edges, from the minimum to the maximum), None without values.

    Bins are half-open [a, b) with a closed last bin, as np.histogram counts them; the
    monitor counts values outside [min, max] in the first or last bin. Edges are data
    values, so float32 edges are written as the decimal that float32 stands for (8234.3,
    not 8234.2998046875) and compare with live values as the data set spells them.
    """
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    quantiles = np.quantile(values, np.linspace(0.0, 1.0, bins + 1), method="inverted_cdf")
    edges = np.unique(quantiles)
    if edges.size == 1:  # a constant column still needs one bin around its value
        edges = np.array([edges[0] - 0.5, edges[0] + 0.5])
    counts, _ = np.histogram(values, bins=edges)
    return NumericReference(
        bin_edges=tuple(float(str(e)) for e in edges),
        fractions=tuple(float(c) / values.size for c in counts),
    )


def categorical_reference(
    values: Iterable[str], categories: Iterable[str] = ()
) -> CategoricalReference | None:
    """Frequency of each category; the spec's categories appear even when unseen (0.0)."""
    counts = pd.Series(list(values), dtype=object).value_counts()
    total = int(counts.sum())
    if total == 0:
        return None
    frequencies = {str(c): 0.0 for c in categories}
    frequencies.update({str(c): int(n) / total for c, n in counts.items()})
    return CategoricalReference(frequencies=frequencies)


def boolean_reference(values: Iterable[float]) -> CategoricalReference | None:
    """Booleans as categories spelled as JSON spells them ("true" / "false")."""
    return categorical_reference(
        ("true" if v else "false" for v in values), categories=("false", "true")
    )
