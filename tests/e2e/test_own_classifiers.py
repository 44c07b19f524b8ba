"""A new user's own classification data set, end to end: public data sets shipped inside
scikit-learn (breast cancer: binary, labels as words; wine: three classes, labels as
integers), never seen by the project.

As a user would: a CSV with a record id column, `mlbus spec infer --target` (no edits: it
must propose classification), the five services with that spec, 80 % of the rows published
labelled, a champion, the other 20 % published without labels, a class and every class's
probability for every row; then the labels of those rows arrive late, and the monitor's live
accuracy of the champion is the served accuracy. The served accuracy is within 0.02 of the
same estimator fitted offline, with sklearn directly, on the same training rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import accuracy_score
from sklearn.pipeline import Pipeline

from contracts import ClassificationTarget, ModelVersion
from services.common.specfile import load_spec
from services.trainer.holdout import is_held_out
from tests.e2e.own_data_support import (
    DataSet,
    Files,
    champion,
    predictions_for,
    publish,
    start_stack,
    write_files,
)
from tests.e2e.public_data import BREAST_CANCER, WINE
from tests.support.polling import eventually_sync

if TYPE_CHECKING:
    from mlbus.brokers import Broker
    from mlbus.runner import Stack

pytestmark = pytest.mark.e2e

ACCURACY_MARGIN = 0.02


DATASETS = [
    BREAST_CANCER,
    WINE,
]


@dataclass(frozen=True)
class Served:
    model: ModelVersion
    predictions: dict[str, dict[str, Any]]
    live_accuracy: float


def offline_accuracy(files: Files, target: str, model: ModelVersion) -> tuple[float, int]:
    """Accuracy on the unlabelled rows of the trainer's estimator fitted with sklearn on the
    rows the trainer trains on, and how many rows those are."""
    spec = load_spec(files.spec)
    features = spec.feature_names
    train = files.labelled[[not is_held_out(r, 0.2) for r in files.labelled["record_id"]]]
    settings = model.card.metrics.hyperparameters or {}
    classifier = HistGradientBoostingClassifier(
        max_iter=200, random_state=0, class_weight=settings.get("class_weight")
    )
    fitted = Pipeline(
        [("features", ColumnTransformer([("numbers", "passthrough", features)])), ("c", classifier)]
    )
    fitted.fit(train[features], train[target].astype(str))
    predicted = fitted.predict(files.unlabelled[features])
    truth = files.unlabelled[target].astype(str)
    return float(accuracy_score(truth, predicted)), len(train)


def live_accuracy(stack: Stack, model_name: str, version: int, labels: int) -> float:
    """The monitor's live accuracy of the champion, once all `labels` late labels joined."""
    url = f"{stack.config.url('monitor')}/metrics"
    who = {"model": model_name, "model_version": str(version), "role": "champion"}

    def scraped() -> dict[str, float]:
        found: dict[str, float] = {}
        for family in text_string_to_metric_families(httpx.get(url, timeout=10).text):
            for sample in family.samples:
                if who.items() <= sample.labels.items():
                    found[sample.labels.get("metric", sample.name)] = sample.value
        return found

    values = eventually_sync(
        scraped,
        what=f"live accuracy over {labels} joined labels",
        until=lambda v: v.get("mlbus_classification_labels") == labels and "accuracy" in v,
        timeout=90,
    )
    return values["accuracy"]


def serve(data: DataSet, files: Files, stack: Stack) -> Served:
    stack.wait_ready(timeout=300)
    publish(stack, files.labelled_csv, files.spec)
    stack.wait_service_ready("predictor", timeout=180)  # serves once a champion exists
    model = champion(stack, data.name)
    publish(stack, files.unlabelled_csv, files.spec)
    predictions = predictions_for(stack, set(files.unlabelled["record_id"]))
    late = files.labels_csv
    publish(stack, late, files.spec)  # the labels of the scored rows arrive
    live = live_accuracy(stack, data.name, model.version, len(files.unlabelled))
    stack.check_alive()
    return Served(model, predictions, live)


@pytest.mark.parametrize("data", DATASETS, ids=[d.name for d in DATASETS])
def test_an_own_classification_data_set_is_served_and_as_good_as_sklearn_offline(
    data: DataSet, broker: Broker, tmp_path: Path
) -> None:
    files = write_files(data, tmp_path)
    spec = load_spec(files.spec)
    target = spec.target
    assert isinstance(target, ClassificationTarget), "spec infer must propose classification"
    classes = sorted(files.labelled[data.target].astype(str).unique())
    assert sorted(target.classes) == classes
    stack = start_stack(broker, tmp_path, files)
    try:
        served = serve(data, files, stack)
    finally:
        stack.stop()

    expected, train_rows = offline_accuracy(files, data.target, served.model)
    card = served.model.card
    assert card.classes is not None
    assert sorted(card.classes) == classes
    assert card.metrics.task == "classification"
    assert card.metrics.train_size == train_rows
    predictions = served.predictions
    assert set(predictions) == set(files.unlabelled["record_id"])
    for event in predictions.values():
        assert event["kind"] == "classification.made.v1"
        assert set(event["probabilities"]) == set(classes)
        assert sum(event["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    truth = files.unlabelled.set_index("record_id")[data.target].astype(str)
    hits = np.array([predictions[r]["prediction"] == truth[r] for r in truth.index])
    accuracy = float(hits.mean())
    print(f"{data.name}: served accuracy {accuracy:.4f}, offline {expected:.4f}")
    assert abs(accuracy - expected) <= ACCURACY_MARGIN, (accuracy, expected)
    assert served.live_accuracy == pytest.approx(accuracy, abs=1e-9)
