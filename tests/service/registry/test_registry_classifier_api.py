"""Classifiers through the registry's HTTP API: checked on upload, promoted by their metric,
listed with their scores."""

from __future__ import annotations

import pytest

from services.registry.config import Settings
from tests.service.registry.registry_harness import Registry
from tests.support.classifiers import (
    MULTICLASS,
    built_classifier,
    classification_spec,
    classifier_card,
)

SPEC = classification_spec(MULTICLASS, name="animals", metric="accuracy")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"spec": SPEC, "spec_check": True})


async def test_a_better_accuracy_takes_champion_and_models_show_the_scores(
    registry: Registry,
) -> None:
    built = built_classifier(MULTICLASS)
    first = classifier_card(SPEC, built.classes, metric="accuracy", accuracy=0.80)
    second = classifier_card(SPEC, built.classes, 2, metric="accuracy", accuracy=0.86)
    assert (await registry.upload(first, built.onnx)).status_code == 201
    assert (await registry.upload(second, built.onnx)).status_code == 201

    models = (await registry.client.get("/models")).json()
    assert models[0]["aliases"] == {"champion": 2}
    assert models[0]["champion"] == {
        "version": 2,
        "dataset": SPEC.name,
        "task": "classification",
        "metric": "accuracy",
        "scores": {"log_loss": 0.4, "accuracy": 0.86, "macro_f1": 0.78},
    }
    versions = (await registry.client.get(f"/models/{SPEC.name}/versions")).json()
    assert [v["card"]["metrics"]["accuracy"] for v in versions] == [0.80, 0.86]
    assert versions[0]["card"]["classes"] == list(MULTICLASS)
    details = (await registry.client.get(f"/models/{SPEC.name}/versions/2/details")).json()
    assert "beats champion: accuracy 0.86 vs champion v1 accuracy 0.8" in details["decision_reason"]


async def test_a_classifier_of_other_classes_is_refused_with_a_reason(registry: Registry) -> None:
    built = built_classifier(MULTICLASS)
    card = classifier_card(SPEC, ("cat", "dog", "wolf"))
    answer = await registry.upload(card, built.onnx)
    assert answer.status_code == 422
    assert "['wolf'] are not classes" in answer.json()["detail"]
    assert registry.nothing_written()
    assert len(registry.refusals()) == 1
