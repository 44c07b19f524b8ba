"""Classifiers in the predictor: their class from the spec's threshold or argmax, every class's
probability, and refusal of a model whose classes are not the spec's."""

from __future__ import annotations

import logging

import msgspec
import numpy as np
import pytest

from contracts import (
    ClassificationMade,
    ClassificationTarget,
    DatasetSpec,
    ModelRefused,
    PredictionRequested,
    RegressionTarget,
)
from services.predictor.classes import class_rule
from services.predictor.metrics import PredictorMetrics
from services.predictor.model import LoadedModel, ModelLoadError, load_model
from services.predictor.request_batch import RawRequest, RequestBatch, encode_json, parse_requests
from services.predictor.scoring import Classification, ScoredBatch, score_requests
from services.predictor.serving import AliasReloader, ModelHolder, ReloadOutcome
from services.predictor.shadow import shadow_score
from tests.support.classifiers import (
    BINARY,
    MULTICLASS,
    BuiltClassifier,
    built_classifier,
    classification_spec,
    classifier_card,
    classifier_version,
    feature_rows,
)
from tests.unit.predictor.predictor_fixtures import FakeRegistry, model_version, sha256

ROWS = feature_rows(200, seed=7)


def _load(
    built: BuiltClassifier, spec: DatasetSpec, *, trained_for: DatasetSpec | None = None
) -> LoadedModel:
    """The classifier loaded to serve `spec`, its card written for `trained_for` (or `spec`)."""
    card = classifier_card(trained_for or spec, built.classes)
    return load_model(spec.name, 1, built.onnx, sha256(built.onnx), spec, card)


def _requests(spec: DatasetSpec, rows: list[dict[str, object]]) -> RequestBatch:
    raws = [
        RawRequest(
            PredictionRequested(record_id=f"r{i}", dataset=spec.name, features=row)
            .model_dump_json()
            .encode(),
            "t.predict.requests.v1",
        )
        for i, row in enumerate(rows)
    ]
    batch, rejected = parse_requests(raws)
    assert rejected == []
    return batch


def _classified(model: LoadedModel, spec: DatasetSpec) -> list[ClassificationMade]:
    scored: ScoredBatch = score_requests(model, _requests(spec, ROWS))
    assert scored.rejections == []
    return [ClassificationMade.model_validate_json(encode_json(c)) for c in scored.predictions]


def test_a_binary_class_is_the_positive_one_from_the_spec_threshold_on() -> None:
    built = built_classifier(BINARY)
    lenient, strict = classification_spec(BINARY), classification_spec(BINARY, threshold=0.9)
    at_half = _classified(_load(built, lenient), lenient)
    at_nine_tenths = _classified(_load(built, strict, trained_for=lenient), strict)

    for made, threshold in [*((m, 0.5) for m in at_half), *((m, 0.9) for m in at_nine_tenths)]:
        assert made.threshold == threshold
        assert made.prediction == ("yes" if made.probabilities["yes"] >= threshold else "no")
    pairs = list(zip(at_half, at_nine_tenths, strict=True))
    assert all(a.probabilities == b.probabilities for a, b in pairs)
    flipped = sum(a.prediction != b.prediction for a, b in pairs)
    assert flipped > 10  # the same probabilities, other decisions: no retraining
    yes_at_half = sum(m.prediction == "yes" for m in at_half)
    assert yes_at_half - flipped == sum(m.prediction == "yes" for m in at_nine_tenths)


def test_a_multiclass_class_is_the_most_probable_and_probabilities_sum_to_one() -> None:
    built = built_classifier(MULTICLASS)
    spec = classification_spec(MULTICLASS)
    made = _classified(_load(built, spec), spec)

    expected = built.probabilities(ROWS)  # scikit-learn's, columns in the model's order
    for result, sklearn_row in zip(made, expected.tolist(), strict=True):
        assert list(result.probabilities) == list(MULTICLASS)
        assert sum(result.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
        assert result.prediction == max(result.probabilities, key=result.probabilities.__getitem__)
        assert result.threshold is None
        by_class = dict(zip(built.classes, sklearn_row, strict=True))
        assert result.probabilities == pytest.approx(by_class, abs=1e-5)
    assert {m.prediction for m in made} == set(MULTICLASS)


def test_probabilities_are_named_by_the_spec_whatever_the_model_column_order() -> None:
    built = built_classifier(BINARY)  # columns: no, yes
    spec = classification_spec(("yes", "no"), positive_class="yes")
    made = _classified(_load(built, spec), spec)

    expected = built.probabilities(ROWS)
    for result, (p_no, p_yes) in zip(made, expected.tolist(), strict=True):
        assert list(result.probabilities) == ["yes", "no"]
        assert result.probabilities == pytest.approx({"no": p_no, "yes": p_yes}, abs=1e-5)
        assert result.prediction == ("yes" if result.probabilities["yes"] >= 0.5 else "no")


def test_the_spec_target_wins_over_the_card_and_a_log_line_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    built = built_classifier(BINARY)
    served = classification_spec(BINARY, threshold=0.8)
    with caplog.at_level(logging.INFO, logger="services.predictor.model"):
        model = _load(built, served, trained_for=classification_spec(BINARY))
    assert model.rule is not None
    assert model.rule.threshold == 0.8
    assert "the served spec's wins" in caplog.text
    assert "'threshold': 0.8" in caplog.text


@pytest.mark.parametrize(
    ("spec_classes", "card_classes"),
    [(("no", "maybe", "never"), BINARY), (("no", "si"), BINARY), (BINARY, ("no", "yes", "yes"))],
)
def test_a_classifier_whose_classes_are_not_the_spec_classes_is_refused(
    spec_classes: tuple[str, ...], card_classes: tuple[str, ...]
) -> None:
    built = built_classifier(BINARY)
    spec = classification_spec(spec_classes)
    card = classifier_card(classification_spec(BINARY), card_classes)
    with pytest.raises(ModelLoadError, match="classes"):
        load_model(spec.name, 1, built.onnx, sha256(built.onnx), spec, card)


def test_a_regressor_cannot_serve_a_classification_spec_nor_a_classifier_a_regression_one(
    onnx_v1: bytes,
) -> None:
    built = built_classifier(BINARY)
    spec = classification_spec(BINARY)
    regressor_card = model_version(1, onnx_v1).card
    with pytest.raises(ModelLoadError, match="names no classes"):
        load_model(spec.name, 1, onnx_v1, sha256(onnx_v1), spec, regressor_card)
    regression = DatasetSpec(
        name=spec.name, target=RegressionTarget(name="label"), features=spec.features
    )
    card = classifier_card(spec, built.classes)
    with pytest.raises(ModelLoadError, match="not classification"):
        load_model(spec.name, 1, built.onnx, sha256(built.onnx), regression, card)


def test_a_card_with_classes_on_a_model_without_probabilities_is_refused(onnx_v1: bytes) -> None:
    spec = classification_spec(BINARY)
    card = classifier_card(spec, BINARY)
    with pytest.raises(ModelLoadError, match="probabilities output"):
        load_model(spec.name, 1, onnx_v1, sha256(onnx_v1), spec, card)


async def test_a_mismatched_classifier_is_refused_and_the_old_one_keeps_serving(
    metrics: PredictorMetrics,
) -> None:
    spec = classification_spec(MULTICLASS)
    good, other = built_classifier(MULTICLASS), built_classifier(BINARY)
    registry = FakeRegistry(model_name=spec.name)
    refusals: list[ModelRefused] = []

    async def refused(event: ModelRefused) -> None:
        refusals.append(event)

    holder = ModelHolder()
    reloader = AliasReloader(holder, registry, spec.name, metrics, spec=spec, on_refused=refused)
    first = classifier_version(1, good.onnx, classifier_card(spec, good.classes))
    registry.promote(first, good.onnx)
    assert await reloader.reload() is ReloadOutcome.LOADED
    binary_card = classifier_card(classification_spec(BINARY, name=spec.name), other.classes, 2)
    registry.promote(classifier_version(2, other.onnx, binary_card), other.onnx)

    assert await reloader.reload() is ReloadOutcome.REFUSED
    assert holder.current is not None
    assert holder.current.version == 1
    assert len(refusals) == 1
    assert "not the spec target" in refusals[0].reason


def test_the_fast_codec_writes_a_valid_classification_made() -> None:
    spec = classification_spec(MULTICLASS)
    model = _load(built_classifier(MULTICLASS), spec)
    requests = _requests(spec, ROWS[:3])
    made = score_requests(model, requests).predictions
    assert all(isinstance(m, Classification) for m in made)
    for request, result in zip(requests.events, made, strict=True):
        event = ClassificationMade.model_validate_json(encode_json(result))
        assert event.kind == "classification.made.v1"
        assert (event.model_name, event.model_version) == (spec.name, 1)
        assert str(event.request_event_id) == request.event_id
        assert event.features == msgspec.json.decode(request.features)


def test_a_challenger_classifier_shadow_scores_classifications() -> None:
    spec = classification_spec(BINARY)
    model = _load(built_classifier(BINARY), spec)
    made, failed = shadow_score(model, _requests(spec, ROWS[:20]), fraction=1.0)
    assert failed == 0
    assert len(made) == 20
    assert all(isinstance(m, Classification) and m.threshold == 0.5 for m in made)


def test_a_row_a_classifier_cannot_take_is_rejected_alone() -> None:
    spec = classification_spec(BINARY)
    model = _load(built_classifier(BINARY), spec)
    rows = [*ROWS[:3], {**ROWS[3], "x1": "not a number"}]
    scored = score_requests(model, _requests(spec, rows))
    assert [p.record_id for p in scored.predictions] == ["r0", "r1", "r2"]
    assert [r.record_id for r in scored.rejections] == ["r3"]
    first = scored.predictions[0]
    assert isinstance(first, Classification)
    assert np.isclose(sum(first.probabilities.values()), 1.0, atol=1e-5)


def test_a_probability_at_the_threshold_is_the_positive_class_and_ties_go_to_the_first() -> None:
    binary = class_rule(
        ("yes", "no"), ClassificationTarget(name="y", classes=BINARY, threshold=0.25)
    )
    # Model columns: yes, no; the spec's order: no, yes.
    at_threshold = binary.ordered(np.array([[0.25, 0.75], [0.2499, 0.7501]]))
    assert binary.names(binary.decide(at_threshold)) == ["yes", "no"]
    multiclass = class_rule(MULTICLASS, ClassificationTarget(name="y", classes=MULTICLASS))
    tied = np.array([[0.4, 0.4, 0.2], [0.1, 0.3, 0.6]])
    assert multiclass.names(multiclass.decide(tied)) == ["cat", "fox"]


def test_a_class_the_model_never_saw_gets_probability_zero() -> None:
    rule = class_rule(("fox", "cat"), ClassificationTarget(name="y", classes=MULTICLASS))
    ordered = rule.ordered(np.array([[0.7, 0.3], [0.1, 0.9]]))
    # The spec's order is cat, dog, fox; the model never saw dog.
    assert ordered.tolist() == [[0.3, 0.0, 0.7], [0.9, 0.0, 0.1]]
    assert rule.names(rule.decide(ordered)) == ["fox", "cat"]
