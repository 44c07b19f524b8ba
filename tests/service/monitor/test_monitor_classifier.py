"""The monitor app on faststream's in-memory broker with a classifier: ClassificationMade and
class labels in, live scores, drift of outputs and labels, and the report page out."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from uuid import uuid4

import httpx
import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker
from prometheus_client.parser import text_string_to_metric_families
from sklearn import metrics as sk

from services.common.settings import KafkaSettings
from services.monitor.accumulate import label_drift
from services.monitor.app import create_app
from services.monitor.config import Settings
from tests.service.monitor.references import FixedReferences
from tests.support.class_samples import BINARY, Classified, classifier_baseline, classify

ROWS = 600
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@dataclass
class Monitor:
    settings: Settings
    broker: KafkaBroker
    http: httpx.AsyncClient

    async def metrics_page(self) -> str:
        response = await self.http.get("/metrics")
        assert response.status_code == 200
        return response.text

    async def metrics(self) -> Samples:
        return {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(await self.metrics_page())
            for sample in family.samples
        }


@pytest.fixture
async def monitor() -> AsyncIterator[Monitor]:
    settings = Settings(
        kafka=KafkaSettings(topic_prefix=f"test-{uuid4().hex[:8]}."),
        window_size=200,
        min_window=50,
        classification_window=1000,
    )
    app = create_app(settings, references=FixedReferences(classifier_baseline(BINARY)))
    async with TestKafkaBroker(app.state.broker) as test_broker:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://monitor") as http:
            yield Monitor(settings, test_broker, http)


@pytest.fixture(scope="module")
def served() -> Classified:
    return classify(ROWS, seed=32, threshold=0.4)


async def _feed(monitor: Monitor, served: Classified) -> None:
    """Served results, a challenger's shadow results (version 2), then every label."""
    topics = monitor.settings.kafka.topics
    shadow = [e.model_copy(update={"model_version": 2, "event_id": uuid4()}) for e in served.events]
    await monitor.broker.publish_batch(*served.events, topic=topics.predict_results)
    await monitor.broker.publish_batch(*shadow, topic=topics.predict_shadow)
    await monitor.broker.publish_batch(*served.labels, topic=topics.records)


def _labels(**labels: str) -> frozenset[tuple[str, str]]:
    return frozenset(labels.items())


async def test_live_scores_match_scikit_learn_for_champion_and_shadow(
    monitor: Monitor, served: Classified
) -> None:
    await _feed(monitor, served)
    metrics = await monitor.metrics()

    def score(metric: str, version: str = "1", role: str = "champion") -> float:
        labels = _labels(model="churn", model_version=version, role=role, metric=metric)
        return metrics[("mlbus_classification_score", labels)]

    labels, predicted = served.label_indexes, served.predicted_indexes
    assert score("accuracy") == pytest.approx(sk.accuracy_score(labels, predicted))
    assert score("log_loss") == pytest.approx(sk.log_loss(labels, served.probabilities))
    assert score("macro_f1") == pytest.approx(sk.f1_score(labels, predicted, average="macro"))
    assert score("roc_auc") == pytest.approx(sk.roc_auc_score(labels, served.probabilities[:, 1]))
    assert 0 <= score("ece") < 0.1
    assert score("accuracy", version="2", role="shadow") == score("accuracy")
    window = _labels(model="churn", model_version="1", role="champion")
    recall = window | _labels(metric="recall", **{"class": "yes"})
    assert metrics[("mlbus_classification_class_score", recall)] == pytest.approx(
        sk.recall_score(labels, predicted)
    )
    assert metrics[("mlbus_classification_labels", window)] == ROWS
    assert metrics[("mlbus_monitor_labels_total", _labels(outcome="joined"))] == 2 * ROWS
    holdout = _labels(model="churn", model_version="1", metric="accuracy")
    assert metrics[("mlbus_model_holdout_score", holdout)] == 0.8


async def test_output_and_label_drift_are_exported(monitor: Monitor, served: Classified) -> None:
    await _feed(monitor, served)
    metrics = await monitor.metrics()
    version = {"model": "churn", "model_version": "1"}
    assert metrics[("mlbus_prediction_drift", _labels(**version, statistic="chi2"))] >= 0
    ks = _labels(**version, statistic="ks", **{"class": "yes"})
    assert metrics[("mlbus_probability_drift", ks)] >= 0
    baseline = classifier_baseline(BINARY)
    assert baseline.reference.labels is not None
    expected = label_drift(
        baseline.reference.labels,
        [str(r.target) for r in served.labels],
        baseline.size,
        monitor.settings.window_policy.rule,
    ).statistics
    for statistic in ("chi2", "p_value", "psi", "total_variation"):
        key = ("mlbus_label_drift", _labels(**version, statistic=statistic))
        assert metrics[key] == pytest.approx(expected.as_dict()[statistic]), statistic
    assert metrics[("mlbus_label_drift", _labels(**version, statistic="drifting"))] == 0
    shares = [
        metrics[("mlbus_label_distribution", _labels(**version, source="window", **{"class": c}))]
        for c in BINARY
    ]
    assert sum(shares) == pytest.approx(1.0)
    # Predicted class shares of the latest window (bins named by the reference's classes).
    predicted = {
        dict(labels)["bin"].split(": ")[1]: value
        for (name, labels), value in metrics.items()
        if name == "mlbus_prediction_distribution" and ("source", "window") in labels
    }
    assert predicted["yes"] == pytest.approx(served.predicted_indexes[400:].mean())
    assert predicted["(unseen)"] == 0


async def test_the_report_page_shows_scores_and_a_reliability_chart(
    monitor: Monitor, served: Classified
) -> None:
    await _feed(monitor, served)
    page = (await monitor.http.get("/report")).text
    assert "<h2>Live classification</h2>" in page
    assert "No labels joined yet" not in page  # a classifier's labels are joined labels
    assert "data-model='churn' data-version='1' data-role='champion'" in page
    assert page.count("<svg class='reliability-chart'") == 2  # champion and shadow
    assert "Reliability of yes" in page
    assert "<p class='label-drift stable'>" in page
    # The windows' cards: the feature, the predicted class and each class's probability.
    assert page.count("<svg class='chart'") == 1 + 1 + len(BINARY)
    assert "data-feature='probability:yes'" in page


async def test_promtool_accepts_the_classifier_metrics(
    monitor: Monitor, served: Classified
) -> None:
    await _feed(monitor, served)
    page = await monitor.metrics_page()
    assert "mlbus_classification_class_score{" in page
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("`promtool` is missing: apt-get install prometheus")
    result = subprocess.run(
        [promtool, "check", "metrics"], input=page, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr.strip() == ""
