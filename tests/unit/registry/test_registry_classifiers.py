"""Classifier cards at upload, their promotion by the spec's metric, and GET /models' scores."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import pytest

from contracts import HOUSE_PRICES, HoldoutRows, ModelCard, ModelMetrics, ScoreComparison
from services.registry.artifacts import ArtifactStore
from services.registry.policy import Champion, decide_promotion
from services.registry.sql import open_database
from services.registry.store import ChampionScores, RegistryStore
from services.registry.validation import InvalidUpload, check_onnx, check_spec, parse_card
from tests.support.classifiers import (
    BINARY,
    MULTICLASS,
    built_classifier,
    classification_spec,
    classifier_card,
)
from tests.unit.registry.registry_samples import make_card, make_onnx

SPEC = classification_spec(MULTICLASS, name="animals")


def _card(**changes: Any) -> ModelCard:
    """The multiclass classifier's card with `changes` (metrics keys go into its metrics)."""
    metrics = {k: changes.pop(k) for k in list(changes) if k in ModelMetrics.model_fields}
    card = classifier_card(SPEC, built_classifier(MULTICLASS).classes, **metrics)
    return card.model_copy(update=changes)


def _parsed(card: ModelCard) -> ModelCard:
    return parse_card(card.model_dump_json(), card.model_name)


def test_a_classifier_card_and_its_model_pass() -> None:
    card = _parsed(_card())
    check_spec(card, SPEC)
    signature = check_onnx(built_classifier(MULTICLASS).onnx, card)
    assert [o.name for o in signature.outputs] == ["label", "probabilities"]


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"classes": None}, "must name its classes"),
        ({"classes": ("cat", "dog", "wolf")}, r"\['wolf'\] are not classes of target"),
        ({"classes": ("cat", "cat")}, "two or more distinct"),
        ({"accuracy": 1.2}, r"accuracy must lie in \[0, 1\]"),
        ({"macro_f1": -0.1}, r"macro_f1 must lie in \[0, 1\]"),
        ({"roc_auc": 2.0}, r"roc_auc must lie in \[0, 1\]"),
        ({"log_loss": -0.01}, "log_loss must be >= 0"),
        ({"metric": "macro_f1", "macro_f1": None}, "metrics.macro_f1 is missing"),
    ],
)
def test_a_classifier_card_out_of_bounds_is_refused(changes: dict[str, Any], why: str) -> None:
    with pytest.raises(InvalidUpload, match=why):
        _parsed(_card(**changes))


def test_classes_on_a_regressor_card_are_refused() -> None:
    card = make_card().model_copy(update={"classes": BINARY})
    with pytest.raises(InvalidUpload, match=r"card\.classes is for classifiers"):
        _parsed(card)


def test_the_spec_decides_which_task_a_model_may_have() -> None:
    classifier = _parsed(_card())
    regression_spec = HOUSE_PRICES.model_copy(update={"name": SPEC.name})
    with pytest.raises(InvalidUpload, match="has a regression target"):
        check_spec(classifier, regression_spec.model_copy(update={"features": SPEC.features}))
    regressor = classifier.model_copy(update={"classes": None})
    with pytest.raises(InvalidUpload, match="the card names no classes"):
        check_spec(regressor, SPEC)
    other = classification_spec(("cat", "dog"), name=SPEC.name)
    with pytest.raises(InvalidUpload, match=r"\['fox'\] are not classes of spec"):
        check_spec(classifier, other)


def test_a_classifier_card_needs_a_probabilities_output_with_a_column_per_class() -> None:
    with pytest.raises(InvalidUpload, match="output 1 must be its probabilities"):
        check_onnx(make_onnx(), make_card().model_copy(update={"classes": BINARY}))
    binary = classifier_card(classification_spec(BINARY, name=SPEC.name), BINARY)
    with pytest.raises(InvalidUpload, match="3 columns; the card names 2 classes"):
        check_onnx(built_classifier(MULTICLASS).onnx, binary)


def _scores(metric: str, score: float, **others: float) -> ModelMetrics:
    return ModelMetrics(
        task="classification",
        metric=metric,
        holdout_size=100,
        parity_max_abs_error=1e-7,
        **{metric: score, **others},
    )


@pytest.mark.parametrize(
    ("metric", "candidate", "champion", "promoted"),
    [
        ("accuracy", 0.91, 0.90, True),
        ("accuracy", 0.90, 0.90, False),
        ("accuracy", 0.85, 0.90, False),
        ("log_loss", 0.30, 0.35, True),
        ("log_loss", 0.40, 0.35, False),
        ("macro_f1", 0.80, 0.70, True),
        ("macro_f1", 0.69, 0.70, False),
    ],
)
def test_a_classifier_is_promoted_when_it_beats_the_champion_by_its_metric(
    metric: str, candidate: float, champion: float, promoted: bool
) -> None:
    decision = decide_promotion(
        _scores(metric, candidate), Champion(2, _scores(metric, champion)), margin=0.0
    )
    assert decision.promoted is promoted
    shown = metric.replace("_", " ")
    assert f"{shown} {candidate:g} vs champion v2 {shown} {champion:g}" in decision.reason


def test_a_score_where_more_is_better_needs_the_margin_on_its_loss() -> None:
    # accuracy 0.90 is a loss of 0.10: with margin 0.1 the candidate needs a loss below 0.09.
    champion = Champion(1, _scores("accuracy", 0.90))
    assert not decide_promotion(_scores("accuracy", 0.905), champion, margin=0.1).promoted
    decision = decide_promotion(_scores("accuracy", 0.92), champion, margin=0.1)
    assert decision.promoted
    assert "needs > 0.91" in decision.reason


def test_classifiers_are_compared_on_the_rows_neither_trained_on_when_scored_there() -> None:
    rows = HoldoutRows(count=30, fingerprint="cd" * 32)
    same = ScoreComparison(
        champion_version=5, metric="log_loss", champion_score=0.2, score=0.25, rows=rows
    )
    candidate = _scores("log_loss", 0.1).model_copy(update={"score_comparison": same})
    decision = decide_promotion(candidate, Champion(5, _scores("log_loss", 0.3)), margin=0.0)
    assert not decision.promoted  # better on its own holdout, worse on the shared rows
    assert "log loss 0.25 vs champion v5 log loss 0.2 on the same 30 holdout" in decision.reason


def test_a_champion_without_the_candidate_metric_keeps_the_candidate_challenger() -> None:
    champion = Champion(3, _scores("log_loss", 0.3))
    decision = decide_promotion(_scores("macro_f1", 0.9), champion, margin=0.0)
    assert not decision.promoted
    assert decision.reason == "champion v3 has no macro_f1 to compare"


def test_a_legacy_card_without_metric_or_task_is_compared_by_rmse() -> None:
    legacy = {"rmse": 8.0, "mae": 4.0, "r2": 0.7, "holdout_size": 50, "parity_max_abs_error": 0}
    candidate = ModelMetrics.model_validate(legacy)
    champion = ModelMetrics.model_validate(legacy | {"rmse": 10.0})
    assert (candidate.task, candidate.metric) == ("regression", "rmse")
    decision = decide_promotion(candidate, Champion(1, champion), margin=0.0)
    assert decision.promoted
    assert "rmse 8 vs champion v1 rmse 10" in decision.reason


def test_models_list_the_champion_scores_of_its_task(tmp_path: Path, database_url: str) -> None:
    store = RegistryStore(open_database(database_url), ArtifactStore(tmp_path / "artifacts"))
    policy = partial(decide_promotion, margin=0.0)
    store.register(_card(), b"classifier", policy)
    store.register(make_card(rmse=3.0), b"regressor", policy)
    summaries = {s.model_name: s.champion for s in store.list_models()}
    assert summaries[SPEC.name] == ChampionScores(
        version=1,
        dataset=SPEC.name,
        task="classification",
        metric="log_loss",
        scores={"log_loss": 0.4, "accuracy": 0.8, "macro_f1": 0.78},
    )
    assert summaries["house-prices"] == ChampionScores(
        version=1,
        dataset="house-prices",
        task="regression",
        metric="rmse",
        scores={"rmse": 3.0, "mae": 1.5, "r2": 0.8},
    )


def test_a_model_of_another_task_than_the_champion_takes_over() -> None:
    regressor = ModelMetrics(rmse=10.0, mae=5.0, r2=0.5, holdout_size=50, parity_max_abs_error=0)
    decision = decide_promotion(_scores("log_loss", 0.6), Champion(7, regressor), margin=0.5)
    assert decision.promoted
    assert decision.reason == (
        "the task changed: champion v7 is a regression model, this one a classification model,"
        " whose scores do not compare"
    )
    back = decide_promotion(regressor, Champion(8, _scores("accuracy", 0.99)), margin=0.5)
    assert back.promoted
