"""A real monitor process scraped by a real Prometheus; its /report in a real headless chromium.

The monitor reads predictions, shadow predictions and late labels from the session's broker
and asks a stand-in registry (monitor_support) for its reference. Beside the regressor
(house-prices) it watches a binary classifier (churn) whose stream moved and whose published
probabilities are underconfident. Every PromQL expression of
the Grafana dashboard and of the alert rules is then run against Prometheus: the monitor's
must return data; the other services' panels need the whole stack and are only checked to be
valid queries here (their series come from tests/unit/deploy and the stack's own tests).
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

import httpx
import numpy as np
import pytest

from contracts import RecordIngested, Topics
from mlbus.brokers import Broker
from mlbus.bus import ensure_topics, publish_all
from mlbus.runner import Stack, StackConfig
from tests.e2e.monitor_support import (
    alert_expressions,
    classifier_version,
    dashboard_expressions,
    made_predictions,
    model_version,
    png_pixels,
    prometheus,
    query,
    required,
    stand_in_registry,
    wait_scraped,
    wait_scraped_and_evaluated,
)
from tests.support.class_samples import classify
from tests.support.polling import eventually

pytestmark = pytest.mark.e2e

WINDOW = 300
MONITOR_ENV = {
    "MLBUS_MONITOR_WINDOW_SIZE": str(WINDOW),
    "MLBUS_MONITOR_MIN_WINDOW": "100",
    "MLBUS_MONITOR_DRIFT_WINDOWS": "2",
    "MLBUS_MONITOR_ERROR_WINDOW": "50",
    "MLBUS_MONITOR_REFERENCE_RETRY_SECONDS": "1",
    "MLBUS_MONITOR_BATCH_MAX_RECORDS": "100",
}
# Metrics the monitor exports; any other mlbus_ metric belongs to another service.
MONITOR_METRIC = re.compile(
    r"^mlbus_(monitor_\w+|feature_drift|prediction_drift|dataset_drift\w*|prediction_error"
    r"|model_holdout_error|prediction_distribution|drift_detected_total"
    r"|classification_\w+|model_holdout_score|probability_drift|label_drift|label_distribution)$"
)
# The classifier's live accuracy is about 0.88 on its moved stream: under this holdout's by
# more than the alert's margin. Its labels' class balance moved too, and its probabilities
# (raised to the power 0.3) are underconfident: an ECE about 0.16.
CLASSIFIED = classify(600, seed=51, shift=1.0, sharpen=0.3)
CLASSIFIER_HOLDOUT_ACCURACY = 0.97


@dataclass
class Observed:
    monitor_url: str
    prometheus_url: str
    workdir: Path


async def _feed(bootstrap: str, topics: Topics, monitor_url: str, prometheus_url: str) -> None:
    """A calm window first (counters start at 0), then drift, shadows and late labels."""
    calm = made_predictions(WINDOW, seed=1, id_prefix="obs1")
    await publish_all(bootstrap, topics.predict_results, calm, key=lambda e: e.record_id)
    await _wait_for_metric(
        monitor_url,
        'mlbus_monitor_windows_total{model="house-prices",model_version="1",outcome="clean"} 1.0',
    )
    for _ in range(2):  # two scrapes of the calm state: rates and increases start from it
        await asyncio.to_thread(wait_scraped, prometheus_url, "monitor")
    drifted = made_predictions(2 * WINDOW, seed=2, id_prefix="obs2", drift={"area": 0.3})
    await publish_all(bootstrap, topics.predict_results, drifted, key=lambda e: e.record_id)
    # Labels 5000 above the served prediction; the challenger (v2) is 100 off.
    labelled = drifted[:100]
    shadows = [
        e.model_copy(
            update={"event_id": uuid4(), "model_version": 2, "prediction": e.prediction + 4900.0}
        )
        for e in labelled
    ]
    labels = [
        RecordIngested(
            record_id=e.record_id,
            dataset="house-prices",
            features=e.features,
            target=e.prediction + 5000.0,
        )
        for e in labelled
    ]
    await publish_all(bootstrap, topics.predict_shadow, shadows, key=lambda e: e.record_id)
    await publish_all(bootstrap, topics.records, labels, key=lambda e: e.record_id)
    await _feed_classifier(bootstrap, topics, monitor_url)
    await _wait_for_metric(monitor_url, 'role="shadow"}')
    await _wait_for_metric(
        monitor_url, 'mlbus_drift_detected_total{model="house-prices",outcome="published"} 1.0'
    )


async def _feed_classifier(bootstrap: str, topics: Topics, monitor_url: str) -> None:
    """The classifier's results, then their labels: live scores and label drift follow."""
    events, labels = CLASSIFIED.events, CLASSIFIED.labels
    await publish_all(bootstrap, topics.predict_results, events, key=lambda e: e.record_id)
    await publish_all(bootstrap, topics.records, labels, key=lambda e: e.record_id)
    churn = 'model="churn",model_version="1"'
    await _wait_for_metric(
        monitor_url, f'mlbus_classification_labels{{{churn},role="champion"}} {len(labels)}.0'
    )
    await _wait_for_metric(monitor_url, f'mlbus_label_drift{{{churn},statistic="drifting"}} 1.0')


async def _wait_for_metric(monitor_url: str, fragment: str, timeout: float = 30) -> None:
    async def exported() -> str:
        # A generous read timeout: on a loaded machine /metrics once took over httpx's 5 s.
        async with httpx.AsyncClient(timeout=30) as client:
            return (await client.get(f"{monitor_url}/metrics")).text

    await eventually(
        exported,
        what=f"the monitor exporting {fragment!r}",
        until=lambda text: fragment in text,
        timeout=timeout,
        interval=0.3,
    )


@pytest.fixture(scope="module")
def observed(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Observed]:
    workdir = tmp_path_factory.mktemp("monitor-observed")
    prefix = f"t{uuid.uuid4().hex[:10]}."
    classifier = classifier_version(1, CLASSIFIER_HOLDOUT_ACCURACY)
    versions = {1: model_version(1), 2: model_version(2)}
    with stand_in_registry(versions, [classifier]) as registry_url:
        config = StackConfig.with_free_ports(
            broker.bootstrap_servers,
            workdir,
            topic_prefix=prefix,
            extra_env={**MONITOR_ENV, "MLBUS_MONITOR_REGISTRY_URL": registry_url},
        )
        topics = Topics.with_prefix(prefix)
        asyncio.run(ensure_topics(broker.bootstrap_servers, topics.all()))
        stack = Stack(config)
        stack.log_dir.mkdir(parents=True, exist_ok=True)
        stack.start_service("monitor")
        try:
            with prometheus(workdir, {"monitor": config.ports["monitor"]}) as prometheus_url:
                monitor_url = config.url("monitor")
                stack.wait_service_ready("monitor")
                asyncio.run(_feed(broker.bootstrap_servers, topics, monitor_url, prometheus_url))
                # Prometheus scrapes the drifted state and evaluates the rules on it.
                wait_scraped_and_evaluated(prometheus_url, "monitor")
                yield Observed(monitor_url, prometheus_url, workdir)
                stack.check_alive()
        finally:
            stack.stop()


def test_every_monitor_expression_of_the_dashboard_and_alerts_returns_data(
    observed: Observed,
) -> None:
    expressions = dashboard_expressions()
    expressions |= {f"alert {name}": expr for name, expr in alert_expressions().items()}
    whole_stack: list[str] = []
    empty: list[str] = []
    for name, expr in expressions.items():
        metrics = set(re.findall(r"\bmlbus_\w+", expr))
        metrics = {re.sub(r"_(bucket|sum|count)$", "", m) for m in metrics}
        result = query(observed.prometheus_url, expr)
        if all(MONITOR_METRIC.match(m) for m in metrics):
            if not result:
                empty.append(f"{name}: {expr}")
        else:
            whole_stack.append(name)
    assert not empty, "monitor expressions without data:\n" + "\n".join(empty)
    monitor_count = len(expressions) - len(whole_stack)
    # The consumers' and the predictor's alerts watch other services; test_dashboard_stack
    # runs them on the stack.
    consumers = {
        f"alert {name}"
        for rules in ("mlbus-consumers.yml", "mlbus-predictor.yml")
        for name in alert_expressions(rules)
    }
    others = [name for name in whole_stack if name not in consumers]
    assert monitor_count >= 20, whole_stack
    assert all(name.startswith("panel") for name in others), others


def test_the_alert_rules_load_and_the_drift_and_error_alerts_are_active(
    observed: Observed,
) -> None:
    rules = httpx.get(f"{observed.prometheus_url}/api/v1/rules", timeout=10).json()
    loaded = [r for g in rules["data"]["groups"] for r in g["rules"]]
    assert loaded
    assert all(r["health"] == "ok" for r in loaded), loaded
    alerts = httpx.get(f"{observed.prometheus_url}/api/v1/alerts", timeout=10).json()
    active = {a["labels"]["alertname"] for a in alerts["data"]["alerts"]}
    expected = {
        "MlbusDatasetDrift",
        "MlbusFeatureDrift",
        "MlbusDriftDetected",
        "MlbusLiveErrorAboveHoldout",
        "MlbusChallengerBeatsChampion",
        "MlbusLiveAccuracyBelowHoldout",
        "MlbusCalibrationError",
        "MlbusLabelDrift",
    }
    assert expected <= active, active


def test_the_report_renders_its_charts_in_headless_chromium(observed: Observed) -> None:
    chromium = required("chromium")
    url = f"{observed.monitor_url}/report"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    dom = subprocess.run(
        [chromium, *flags, "--dump-dom", url], capture_output=True, text=True, timeout=60
    ).stdout
    assert dom.count('<svg class="chart"') == 13 + 4, dom[:2000]
    # house-prices: 12 features and the predictions; churn: x, the class, two probabilities.
    assert dom.count('<svg class="reliability-chart"') == 1, dom[:2000]  # churn's champion
    assert 'data-feature="area"' in dom
    assert "house-prices v1: drifting" in dom
    assert 'id="live-error"' in dom

    shot = observed.workdir / "report.png"
    subprocess.run(
        [chromium, *flags, "--window-size=1280,900", f"--screenshot={shot}", url],
        capture_output=True,
        timeout=60,
        check=True,
    )
    pixels = png_pixels(shot.read_bytes())[..., :3]
    # The bars were painted: pixels of both series' colours (report.py) on the page.
    current = np.all(pixels == (0x29, 0x80, 0xB9), axis=-1).sum()
    reference = np.all(pixels == (0x95, 0xA5, 0xA6), axis=-1).sum()
    assert current > 500, (current, reference)
    assert reference > 500, (current, reference)
