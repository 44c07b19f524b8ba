"""A classifier's outputs and labels against its reference: predicted classes, probabilities,
the class balance of joined labels."""

from __future__ import annotations

import pytest

from contracts import ClassificationMade
from services.monitor.accumulate import (
    OUTPUT_PREDICTION,
    Baseline,
    DriftRule,
    WindowCounts,
    label_drift,
    probability_column,
    window_statistics,
)
from services.monitor.windows import DriftWindows, Observation, WindowPolicy, columns
from tests.support.class_samples import (
    BINARY,
    MULTICLASS,
    REFERENCE_ROWS,
    classifier_baseline,
    classify,
)

WINDOW = 500


@pytest.fixture(scope="module")
def multiclass() -> Baseline:
    return classifier_baseline(MULTICLASS)


def _outputs_moved_alone(count: int, seed: int, shift: float) -> list[ClassificationMade]:
    """Outputs of a stream shifted by `shift` beside the features of an unshifted one: what a
    change the features' marginals do not show (an interaction, say) looks like."""
    moved = classify(count, seed, MULTICLASS, shift=shift).events
    steady = classify(count, seed + 1000, MULTICLASS).events
    pairs = zip(moved, steady, strict=True)
    return [m.model_copy(update={"features": s.features}) for m, s in pairs]


def _window(baseline: Baseline, events: list[ClassificationMade]) -> WindowCounts:
    counts = WindowCounts.for_reference(baseline.reference)
    observations = [Observation.of(e) for e in events]
    counts.add_batch(columns(observations, counts.bins), len(observations))
    return counts


def test_a_steady_classifier_does_not_drift(multiclass: Baseline) -> None:
    statistics = window_statistics(
        _window(multiclass, classify(WINDOW, seed=11, classes=MULTICLASS).events), REFERENCE_ROWS
    )
    assert statistics.prediction is not None
    assert statistics.prediction.test == "chi2"
    assert set(statistics.probabilities) == set(MULTICLASS)
    assert {s.test for s in statistics.probabilities.values()} == {"ks"}
    assert not statistics.output_drifting


def test_a_shifted_class_mix_drifts_the_outputs_without_the_features(
    multiclass: Baseline,
) -> None:
    statistics = window_statistics(
        _window(multiclass, _outputs_moved_alone(WINDOW, seed=12, shift=0.8)), REFERENCE_ROWS
    )
    assert not statistics.features["x"].drifting
    assert statistics.prediction is not None
    assert statistics.prediction.drifting
    assert statistics.prediction.psi > 0.1
    assert statistics.probabilities["high"].drifting
    assert statistics.output_drifting
    assert set(statistics.outputs()) == {OUTPUT_PREDICTION} | {
        probability_column(c) for c in MULTICLASS
    }


def test_output_drift_raises_drift_detected_as_feature_drift_does(multiclass: Baseline) -> None:
    windows = DriftWindows(WindowPolicy(window_size=WINDOW, min_window=100, drift_windows=2))
    key = ("churn", 1)
    reports = []
    for seed in (13, 14):
        for event in _outputs_moved_alone(WINDOW, seed=seed, shift=0.8):
            windows.add(key, Observation.of(event))
        reports += windows.evaluate(key, multiclass)
    complete = [r for r in reports if r.complete]
    assert [r.drifting for r in complete] == [True, True]
    drift = complete[-1].drift
    assert drift is not None
    named = [f.feature for f in drift.features]
    drifting = complete[-1].drifting_outputs()
    assert OUTPUT_PREDICTION in drifting
    assert set(named[: len(drifting)]) == drifting  # the drifting outputs come first
    assert named[-1] == "x"


def test_labels_with_a_shifted_class_balance_drift() -> None:
    baseline = classifier_baseline(BINARY)
    labels_reference = baseline.reference.labels
    assert labels_reference is not None
    rule = DriftRule()

    def drift_of(shift: float, seed: int) -> tuple[bool, float]:
        labels = [str(r.target) for r in classify(1000, seed, shift=shift).labels]
        result = label_drift(labels_reference, labels, REFERENCE_ROWS, rule)
        return result.statistics.drifting, result.shares["yes"][1]

    steady, steady_share = drift_of(0.0, seed=21)
    shifted, shifted_share = drift_of(1.0, seed=22)
    assert not steady
    assert shifted
    reference_share = labels_reference.frequencies["yes"]
    assert abs(steady_share - reference_share) < 0.05
    assert shifted_share > reference_share + 0.15
