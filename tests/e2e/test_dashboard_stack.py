"""The whole stack under the demo's traffic, scraped by a real Prometheus: every expression of
the Grafana dashboard returns data, and the alert rules see the conditions the demo creates.

The five services run as real processes on the session's broker (mlbus.runner, the demo's
settings); mlbus.demo.run_demo drives the loop (training, promotion, predictions, dead
letters, drift), then late labels for 200 predictions arrive so that the live-error panels
have data. Prometheus scrapes all five services every second.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from contracts import RecordIngested, Topics
from mlbus.brokers import Broker
from mlbus.bus import publish_all
from mlbus.demo import DEMO_ENV, DemoPlan, DemoResult, run_demo
from mlbus.runner import SERVICES, Stack, StackConfig
from tests.e2e.monitor_support import alert_expressions, dashboard_expressions, prometheus, query
from tests.support.polling import eventually_sync

pytestmark = pytest.mark.e2e

LABELLED_PREDICTIONS = 200  # the monitor's error window: one window of joined labels
# Alerts whose condition the demo cannot create: it trains one model only, so there is no
# challenger and no shadow predictions (role="shadow") to compare with the champion.
# The challenger comparison has nothing to compare in the demo, and a healthy stack neither
# stalls a consumer nor skips a record (the consumers' rules are tested with promtool, and
# their gauges here: every consumer reports, none stalled, nothing skipped).
NOT_CREATED_BY_THE_DEMO = {
    "MlbusChallengerBeatsChampion",
    "MlbusShadowScoringFails",
    "MlbusModelRefused",  # every version the demo trains loads (tests/faults refuse some)
    "MlbusConsumerStalled",
    "MlbusPoisonSkipped",
    # The demo serves a regressor: the classifiers' alerts and dashboard row get their data in
    # test_monitor_observability, which feeds the monitor a classifier too.
    "MlbusLiveAccuracyBelowHoldout",
    "MlbusCalibrationError",
    "MlbusLabelDrift",
}
WITHOUT_ROWS = {"Classifiers"}


@dataclass
class Scraped:
    stack: Stack
    prometheus_url: str
    demo: DemoResult


async def _late_labels(config: StackConfig, demo: DemoResult, holdout_rmse: float) -> None:
    """Labels for some predictions, each 2x the holdout RMSE off: the live error doubles it."""
    labels = [
        RecordIngested(
            record_id=p["record_id"],
            dataset="house-prices",
            features=p["features"],
            target=p["prediction"] + 2 * holdout_rmse,
        )
        for p in demo.predictions[:LABELLED_PREDICTIONS]
    ]
    topics = Topics.with_prefix(config.topic_prefix)
    await publish_all(config.bootstrap_servers, topics.records, labels, key=lambda e: e.record_id)


def _without_data(prometheus_url: str, expressions: dict[str, str]) -> dict[str, str]:
    return {name: expr for name, expr in expressions.items() if not query(prometheus_url, expr)}


def _wait_for_data(prometheus_url: str, expressions: dict[str, str], timeout: float) -> None:
    """Until every expression returns data (the last labels joined and scraped)."""
    eventually_sync(
        lambda: _without_data(prometheus_url, expressions),
        what="data for every dashboard expression",
        until=lambda empty: not empty,
        timeout=timeout,
        interval=0.5,
    )


@pytest.fixture(scope="module")
def scraped(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scraped]:
    workdir = tmp_path_factory.mktemp("dashboard-stack")
    config = StackConfig.with_free_ports(
        broker.bootstrap_servers,
        workdir,
        topic_prefix=f"t{uuid.uuid4().hex[:10]}.",
        extra_env={**DEMO_ENV, "MLBUS_MONITOR_ERROR_WINDOW": str(LABELLED_PREDICTIONS)},
    )
    with Stack(config) as stack, prometheus(workdir, config.ports) as prometheus_url:
        stack.wait_ready(timeout=90)
        plan = DemoPlan(labelled=800, unlabelled=250, drifted=500, timeout=90)
        demo = asyncio.run(run_demo(config, plan, say=lambda _: None))
        assert demo.complete, demo
        holdout_rmse = float(demo.model["card"]["metrics"]["rmse"])
        asyncio.run(_late_labels(config, demo, holdout_rmse))
        _wait_for_data(prometheus_url, dashboard_expressions(WITHOUT_ROWS), timeout=20)
        yield Scraped(stack, prometheus_url, demo)
        stack.check_alive()


def test_prometheus_scrapes_all_five_services(scraped: Scraped) -> None:
    targets = httpx.get(f"{scraped.prometheus_url}/api/v1/targets", timeout=10).json()
    health = {t["labels"]["job"]: t["health"] for t in targets["data"]["activeTargets"]}
    assert health == dict.fromkeys(SERVICES, "up"), health


def test_every_expression_of_the_dashboard_returns_data(scraped: Scraped) -> None:
    expressions = dashboard_expressions(WITHOUT_ROWS)
    assert len(expressions) >= 35
    empty = _without_data(scraped.prometheus_url, expressions)
    assert not empty, "dashboard expressions without data:\n" + "\n".join(
        f"{name}: {expr}" for name, expr in empty.items()
    )


def _by_service(prometheus_url: str, expr: str) -> dict[str, float]:
    return {r["metric"]["app_name"]: float(r["value"][1]) for r in query(prometheus_url, expr)}


def _by_job(prometheus_url: str, expr: str) -> dict[str, float]:
    return {r["metric"]["job"]: float(r["value"][1]) for r in query(prometheus_url, expr)}


def test_every_service_reports_its_message_throughput_latency_and_errors(
    scraped: Scraped,
) -> None:
    url = scraped.prometheus_url
    handled = _by_service(url, "sum by (app_name) (mlbus_bus_received_processed_messages_total)")
    # The registry has no subscriber (it only publishes model events).
    consumers = set(SERVICES) - {"registry"}
    assert set(handled) == consumers, handled
    # Batch subscribers count every record: ingest took every raw message of the demo.
    raw_messages = 800 + 250 + 500 + 5
    assert handled["ingest"] >= raw_messages
    assert handled["predictor"] >= 750
    assert handled["monitor"] >= 750
    p99 = _by_service(
        url,
        "histogram_quantile(0.99, sum by (app_name, le) "
        "(mlbus_bus_received_processed_messages_duration_seconds_bucket))",
    )
    assert set(p99) == consumers, p99
    assert all(0 < v < 30 for v in p99.values()), p99
    published = _by_service(url, "sum by (app_name) (mlbus_bus_published_messages_total)")
    # Model and drift events go through faststream's publish (ingest's and the predictor's
    # per-record outputs take a direct producer path the middleware does not see; the trainer
    # publishes only refusals, none here).
    assert set(published) == {"registry", "monitor"}, published
    assert published["registry"] >= 2  # ModelRegistered, ModelPromoted
    assert published["monitor"] >= len(scraped.demo.drift_events) >= 1
    # Bad records are dead-lettered by the handlers, which never let an exception escape.
    exceptions = _by_service(
        url,
        "sum by (app_name) (mlbus_bus_received_processed_messages_exceptions_total) "
        "or 0 * sum by (app_name) (mlbus_bus_received_processed_messages_total)",
    )
    assert exceptions == dict.fromkeys(consumers, 0.0), exceptions


def test_the_alert_rules_see_every_condition_the_demo_creates(scraped: Scraped) -> None:
    rules = httpx.get(f"{scraped.prometheus_url}/api/v1/rules", timeout=10).json()
    loaded = [r for g in rules["data"]["groups"] for r in g["rules"]]
    assert loaded
    assert all(r["health"] == "ok" for r in loaded), loaded
    alerts = alert_expressions()
    assert alerts.keys() >= NOT_CREATED_BY_THE_DEMO
    silent = set(_without_data(scraped.prometheus_url, alerts))
    # Drift (data set, features, predictions, DriftDetected) and a live error twice the
    # holdout's: all present.
    assert silent == NOT_CREATED_BY_THE_DEMO, sorted(silent)
    url = scraped.prometheus_url
    stalled = _by_job(url, "max by (job) (mlbus_consumer_stalled)")
    skipped = _by_job(url, "sum by (job) (mlbus_consumer_poison_skipped_total)")
    assert set(stalled) >= {"ingest", "predictor", "monitor", "trainer"}, stalled
    assert set(stalled.values()) == {0.0}, stalled
    assert set(skipped.values()) <= {0.0}, skipped
