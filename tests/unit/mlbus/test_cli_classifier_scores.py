"""`mlbus models` and `mlbus train` show a classifier's scores where a regressor shows rmse."""

from __future__ import annotations

from typing import Any

import pytest

from mlbus.cli_models import _classes_line, scores_text
from mlbus.train_verdict import verdict_of
from tests.support.classifiers import BINARY, MULTICLASS, classification_spec, classifier_card


@pytest.mark.parametrize(
    ("metrics", "shown"),
    [
        (
            {"task": "classification", "metric": "log_loss", "log_loss": 0.2112, "accuracy": 0.95},
            "log_loss=0.2112 accuracy=0.95",
        ),
        (
            {
                "task": "classification",
                "metric": "accuracy",
                "log_loss": 0.3,
                "accuracy": 0.9,
                "macro_f1": 0.88,
                "roc_auc": None,
                "rmse": None,
            },
            "accuracy=0.9 log_loss=0.3 macro_f1=0.88",
        ),
        (
            {"rmse": 12345.678, "mae": 99.5, "r2": 0.81, "holdout_size": 50},
            "rmse=1.235e+04 mae=99.5 r2=0.81",
        ),
        ({"task": "regression", "metric": "rmse", "rmse": 1.5, "log_loss": None}, "rmse=1.5"),
    ],
)
def test_scores_are_the_task_ones_the_compared_metric_first(
    metrics: dict[str, Any], shown: str
) -> None:
    assert scores_text(metrics) == shown


def test_a_card_as_the_registry_serves_it_shows_its_classifier_scores() -> None:
    card = classifier_card(classification_spec(MULTICLASS), MULTICLASS).model_dump(mode="json")
    assert scores_text(card["metrics"], digits=6) == "log_loss=0.4 accuracy=0.8 macro_f1=0.78"
    assert _classes_line(card) == ["  classes        cat, dog, fox"]
    binary = classification_spec(BINARY, threshold=0.7)
    shown = _classes_line(classifier_card(binary, BINARY).model_dump(mode="json"))
    assert shown == ["  classes        no, yes (yes from p >= 0.7)"]


def test_a_train_verdict_shows_a_classifier_metric_instead_of_rmse() -> None:
    mine = "requested from the CLI (xyz)"
    result = {
        "reason": f"command: {mine}",
        "outcome": "uploaded",
        "detail": "churn v2",
        "version": 2,
        "rmse": None,
        "metric": "log_loss",
        "accuracy": 0.95,
        "log_loss": 0.21,
        "snapshot_size": 900,
    }
    verdict = verdict_of({"last_result": result}, mine)
    assert verdict is not None
    assert (
        verdict.render() == "trained churn v2 on 900 records, holdout log_loss=0.21 accuracy=0.95"
    )


def test_a_train_verdict_reads_the_trainer_status_metric_and_score() -> None:
    mine = "requested from the CLI (abc)"
    # What the trainer's GET /status reports of a classifier run (services.trainer RunResult).
    result = {
        "reason": f"command: {mine}",
        "outcome": "uploaded",
        "detail": "churn v3",
        "version": 3,
        "rmse": None,
        "metric": "macro_f1",
        "score": 0.875,
        "snapshot_size": 400,
    }
    verdict = verdict_of({"last_result": result}, mine)
    assert verdict is not None
    assert verdict.render() == "trained churn v3 on 400 records, holdout macro_f1=0.875"
