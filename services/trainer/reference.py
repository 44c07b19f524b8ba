"""Reference statistics of the training data: the monitor's baseline for drift."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

QUANTILE_BINS = 10
# A numeric column with at most this many distinct finite values in training gets one bin
# per value: integer, 0/1 and coded columns, where quantile edges would merge values.
DISCRETE_MAX_VALUES = 20

FloatArray = np.ndarray[Any, np.dtype[np.floating[Any]]]


def reference_statistics(
    frame: pd.DataFrame, spec: DatasetSpec, predictions: Iterable[float]
) -> ReferenceStatistics:
    """Bins or frequencies of every feature with values in `frame`, and of the predictions.

    Missing values (NaN, infinite, "") are left out of the bins and counted in each column's
    `missing_fraction`, as the monitor counts None. `size` is the number of rows of `frame`
    (the training rows): the reference sample size of the monitor's two-sample tests.
    """
    prediction = numeric_reference(np.asarray(list(predictions), dtype=np.float64))
    if prediction is None:
        raise ValueError("reference statistics need at least one prediction")
    return ReferenceStatistics(
        features=feature_references(frame, spec), prediction=prediction, size=len(frame)
    )


def classifier_reference(
    frame: pd.DataFrame,
    spec: DatasetSpec,
    predicted: Iterable[str],
    probabilities: Mapping[str, FloatArray],
    classes: Sequence[str],
) -> ReferenceStatistics:
    """As reference_statistics, for a classifier: the share of each predicted class, each
    class's probabilities binned as a numeric feature is (quantile bins put the resolution
    where the probabilities lie: for a 1 % class most of them sit near 0, where fixed tenths
    of [0, 1] would hold nearly all of them in one bin), and the class balance of the
    training labels in `frame` (`classes`: those the spec names)."""
    prediction = categorical_reference(predicted, classes)
    labels = categorical_reference(frame[spec.target.name], classes)
    if prediction is None or labels is None:
        raise ValueError("reference statistics need at least one prediction")
    binned = {name: numeric_reference(values) for name, values in probabilities.items()}
    return ReferenceStatistics(
        features=feature_references(frame, spec),
        prediction=prediction,
        probabilities={name: ref for name, ref in binned.items() if ref is not None},
        labels=labels,
        size=len(frame),
    )


def feature_references(frame: pd.DataFrame, spec: DatasetSpec) -> dict[str, ColumnReference]:
    """The reference of every feature with values in `frame` (see reference_statistics)."""
    features: dict[str, ColumnReference] = {}
    for feature in spec.features:
        column = frame[feature.name]
        reference: ColumnReference | None
        if isinstance(feature, CategoricalFeature):
            reference = categorical_reference(column[column != ""], feature.categories)
        elif isinstance(feature, BooleanFeature):
            reference = boolean_reference(column.dropna())
        else:
            reference = numeric_reference(column.to_numpy())
        if reference is not None:
            present = _present_count(column, feature)
            missing = 1.0 - present / len(column)
            features[feature.name] = reference.model_copy(update={"missing_fraction": missing})
    return features


def _present_count(column: pd.Series[Any], feature: object) -> int:
    if isinstance(feature, CategoricalFeature):
        return int((column.notna() & (column != "")).sum())
    if isinstance(feature, BooleanFeature):
        return int(column.notna().sum())
    return int(np.isfinite(column.to_numpy(dtype=np.float64)).sum())


def numeric_reference(
    values: FloatArray,
    bins: int = QUANTILE_BINS,
    discrete_max_values: int = DISCRETE_MAX_VALUES,
) -> NumericReference | None:
    """One bin per value for a column of few distinct values, else quantile bins; None
    without values. Non-finite values count as missing and are left out."""
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    distinct = np.unique(values)
    if distinct.size <= discrete_max_values:
        return discrete_reference(values, distinct)
    return quantile_reference(values, bins)


def quantile_reference(values: FloatArray, bins: int = QUANTILE_BINS) -> NumericReference:
    """Quantile bins (unique edges, from the minimum to the maximum) of finite `values`.

    Bins are half-open [a, b) with a closed last bin, as np.histogram counts them; the
    monitor counts values outside [min, max] in the first or last bin. Edges are data
    values, so float32 edges are written as the decimal that float32 stands for (8234.3,
    not 8234.2998046875) and compare with live values as the data set spells them.
    """
    quantiles = np.quantile(values, np.linspace(0.0, 1.0, bins + 1), method="inverted_cdf")
    edges = np.unique(quantiles)
    if edges.size == 1:  # a constant column still needs one bin around its value
        edges = np.array([edges[0] - 0.5, edges[0] + 0.5])
    counts, _ = np.histogram(values, bins=edges)
    return NumericReference(
        bin_edges=tuple(float(str(e)) for e in edges),
        fractions=tuple(float(c) / values.size for c in counts),
    )


def discrete_reference(values: FloatArray, distinct: FloatArray) -> NumericReference:
    """One bin per distinct value: edges halfway between neighbours and half a gap beyond the
    extremes (0.5 around a lone value), so every value sits inside its own bin."""
    edges = discrete_edges(distinct)
    counts, _ = np.histogram(values, bins=edges)
    return NumericReference(
        bin_edges=tuple(float(str(e)) for e in edges),
        fractions=tuple(float(c) / values.size for c in counts),
        binning="discrete",
    )


def discrete_edges(distinct: FloatArray) -> FloatArray:
    """Edges around sorted distinct values (see discrete_reference)."""
    if distinct.size == 1:
        return np.array([distinct[0] - 0.5, distinct[0] + 0.5])
    middles = (distinct[:-1] + distinct[1:]) / 2
    first = distinct[0] - (distinct[1] - distinct[0]) / 2
    last = distinct[-1] + (distinct[-1] - distinct[-2]) / 2
    return np.concatenate([[first], middles, [last]])


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
