"""The Grafana dashboard: valid JSON, PromQL that promtool parses, only the metrics of the brief."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "mlbus.json"
PROVISIONING = ROOT / "deploy" / "grafana" / "provisioning"

# The metric contract every service exports (names and labels exactly as agreed for Grafana).
COUNTERS: dict[str, set[str]] = {
    "mlbus_ingest_records_total": {"outcome", "dataset"},
    "mlbus_ingest_routed_total": {"destination"},
    "mlbus_trainer_runs_total": {"model", "outcome"},
    "mlbus_registry_versions_total": set(),
    "mlbus_registry_promotions_total": set(),
    "mlbus_predictor_predictions_total": {"model", "version"},
    "mlbus_predictor_model_loads_total": {"model", "outcome"},
    "mlbus_predictor_swaps_total": {"model", "alias"},
    "mlbus_predictor_rejected_total": {"model"},  # model="": a request of no known data set
    "mlbus_predictor_shadow_failures_total": {"model"},
    "mlbus_monitor_predictions_total": {"model", "version"},
    "mlbus_monitor_drift_events_total": {"model"},
    "mlbus_monitor_windows_total": {"model", "model_version", "outcome"},
    "mlbus_drift_detected_total": {"model", "outcome"},
    "mlbus_monitor_labels_total": {"outcome"},
    # faststream's Prometheus middleware, in every service (services/common/broker.py)
    "mlbus_bus_received_messages_total": {"app_name", "broker", "handler"},
    "mlbus_bus_received_processed_messages_total": {"app_name", "broker", "handler", "status"},
    "mlbus_bus_received_processed_messages_exceptions_total": {
        "app_name",
        "broker",
        "handler",
        "exception_type",
    },
    "mlbus_bus_published_messages_total": {"app_name", "broker", "destination", "status"},
}
GAUGES: dict[str, set[str]] = {
    "mlbus_trainer_records_buffered": {"model"},
    "mlbus_trainer_last_rmse": {"model"},
    "mlbus_predictor_model_version": {"model"},
    "mlbus_monitor_feature_psi": {"model", "version", "feature"},
    "mlbus_monitor_prediction_psi": {"model", "version"},
    "mlbus_feature_drift": {"model", "model_version", "feature", "statistic"},
    "mlbus_prediction_drift": {"model", "model_version", "statistic"},
    "mlbus_dataset_drift": {"model", "model_version"},
    "mlbus_dataset_drift_share": {"model", "model_version"},
    "mlbus_prediction_error": {"model", "model_version", "role", "metric"},
    "mlbus_model_holdout_error": {"model", "model_version", "metric"},
    "mlbus_prediction_distribution": {"model", "model_version", "bin", "source"},
    # Classifiers (services/monitor/class_metrics.py)
    "mlbus_classification_score": {"model", "model_version", "role", "metric"},
    "mlbus_classification_class_score": {"model", "model_version", "role", "class", "metric"},
    "mlbus_classification_labels": {"model", "model_version", "role"},
    "mlbus_model_holdout_score": {"model", "model_version", "metric"},
    "mlbus_probability_drift": {"model", "model_version", "class", "statistic"},
    "mlbus_label_drift": {"model", "model_version", "statistic"},
    "mlbus_label_distribution": {"model", "model_version", "class", "source"},
}
HISTOGRAMS: dict[str, set[str]] = {
    "mlbus_trainer_training_seconds": {"model"},
    "mlbus_predictor_batch_size": set(),
    "mlbus_predictor_inference_seconds": {"model"},
    "mlbus_predictor_model_load_seconds": {"model", "alias"},
    "mlbus_bus_received_processed_messages_duration_seconds": {"app_name", "broker", "handler"},
}
# What the dashboard must show (the first dashboard's brief), by the series it needs.
REQUIRED_SERIES = {
    "mlbus_ingest_records_total",
    "mlbus_predictor_predictions_total",
    "mlbus_predictor_inference_seconds_bucket",
    "mlbus_monitor_feature_psi",
    "mlbus_monitor_prediction_psi",
    "mlbus_monitor_drift_events_total",
    "mlbus_trainer_runs_total",
    "mlbus_trainer_last_rmse",
    "mlbus_predictor_model_version",
    "mlbus_feature_drift",
    "mlbus_prediction_drift",
    "mlbus_dataset_drift",
    "mlbus_prediction_error",
    "mlbus_prediction_distribution",
    "mlbus_monitor_windows_total",
    "mlbus_drift_detected_total",
    "mlbus_bus_received_processed_messages_total",
    "mlbus_bus_received_processed_messages_duration_seconds_bucket",
    "mlbus_bus_received_processed_messages_exceptions_total",
    # The classifiers' row: accuracy, log loss, macro F1, per-class recall, ECE, class shares.
    "mlbus_classification_score",
    "mlbus_classification_class_score",
    "mlbus_model_holdout_score",
    "mlbus_probability_drift",
    "mlbus_label_drift",
    "mlbus_label_distribution",
}
GRAFANA_RANGES = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "1h",
    "$model": ".*",  # the model variable's All
}


def exposed_series() -> dict[str, set[str]]:
    """Every series name Prometheus scrapes from the contract, with the labels it carries."""
    series = {**COUNTERS, **GAUGES}
    for name, labels in HISTOGRAMS.items():
        series |= {f"{name}_sum": labels, f"{name}_count": labels}
        series[f"{name}_bucket"] = labels | {"le"}
    return series


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def data_panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            yield panel
        yield from panel.get("panels", [])


def targets(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [target for panel in data_panels(dashboard) for target in panel["targets"]]


def metric_names(expr: str) -> set[str]:
    return set(re.findall(r"\bmlbus_\w+", expr))


def test_dashboard_has_identity_and_unique_panel_ids(dashboard: dict[str, Any]) -> None:
    assert dashboard["uid"] == "mlbus-overview"
    assert dashboard["title"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert all(panel["targets"] for panel in data_panels(dashboard))


def test_panels_query_the_provisioned_datasource(dashboard: dict[str, Any]) -> None:
    provisioned = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yaml").read_text())
    [datasource] = provisioned["datasources"]
    expected = {"type": "prometheus", "uid": datasource["uid"]}
    for panel in data_panels(dashboard):
        assert panel["datasource"] == expected, panel["title"]
        assert all(target["datasource"] == expected for target in panel["targets"])


def test_dashboard_provider_loads_the_folder_compose_mounts() -> None:
    provider = yaml.safe_load((PROVISIONING / "dashboards" / "mlbus.yaml").read_text())
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    [path] = [p["options"]["path"] for p in provider["providers"]]
    assert f"./deploy/grafana/dashboards:{path}:ro" in mounts


def test_only_metrics_of_the_contract_are_queried(dashboard: dict[str, Any]) -> None:
    known = exposed_series()
    used = set().union(*(metric_names(target["expr"]) for target in targets(dashboard)))
    assert used <= known.keys(), f"unknown metrics: {sorted(used - known.keys())}"
    assert used >= REQUIRED_SERIES, f"missing views: {sorted(REQUIRED_SERIES - used)}"


def test_grouping_and_legend_labels_exist_on_the_queried_metrics(
    dashboard: dict[str, Any],
) -> None:
    known = exposed_series()
    for target in targets(dashboard):
        labels = set().union(*(known[name] for name in metric_names(target["expr"])))
        grouped = re.findall(r"\bby \(([^)]*)\)", target["expr"])
        referenced = {label.strip() for group in grouped for label in group.split(",")}
        referenced |= set(re.findall(r"\{\{(\w+)\}\}", target.get("legendFormat", "")))
        assert referenced <= labels, f"{target['expr']}: no labels {referenced - labels}"


def test_the_classifiers_row_shows_the_scores_people_watch(dashboard: dict[str, Any]) -> None:
    [row] = [p for p in dashboard["panels"] if p["type"] == "row" and p["title"] == "Classifiers"]
    below = [
        p
        for p in dashboard["panels"]
        if p["type"] != "row" and p["gridPos"]["y"] > row["gridPos"]["y"]
    ]
    next_row = min(
        (p["gridPos"]["y"] for p in dashboard["panels"] if p["type"] == "row" and p is not row),
        key=lambda y: (y <= row["gridPos"]["y"], y),
    )
    exprs = " ".join(t["expr"] for p in below if p["gridPos"]["y"] < next_row for t in p["targets"])
    for shown in ('metric="accuracy"', "log_loss", "macro_f1", 'metric="recall"', 'metric="ece"'):
        assert shown in exprs, shown
    assert "mlbus_prediction_distribution" in exprs


def test_a_model_variable_selects_the_models_every_per_model_panel_shows(
    dashboard: dict[str, Any],
) -> None:
    [variable] = [v for v in dashboard["templating"]["list"] if v["name"] == "model"]
    assert variable["multi"]
    assert variable["includeAll"]
    assert variable["allValue"] == ".*"
    assert "label_values(" in variable["query"]["query"]
    assert variable["query"]["query"].endswith(", model)")
    known = exposed_series()
    for target in targets(dashboard):
        selectors = re.findall(r"\b(mlbus_\w+)(\{[^}]*\})?", target["expr"])
        for name, matchers in selectors:
            if "model" in known[name]:
                assert 'model=~"$model"' in matchers, f"{target['expr']}: {name} not filtered"


def test_every_query_is_valid_promql(dashboard: dict[str, Any], tmp_path: Path) -> None:
    """promtool parses each expression as a recording rule (Grafana's $__ ranges filled in)."""
    rules = []
    for index, target in enumerate(targets(dashboard)):
        expr = target["expr"]
        for variable, value in GRAFANA_RANGES.items():
            expr = expr.replace(variable, value)
        rules.append({"record": f"mlbus:dashboard_query_{index}", "expr": expr})
    rules_file = tmp_path / "dashboard-rules.yml"
    rules_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    beside_python = Path(sys.executable).parent / "promtool"
    promtool = str(beside_python) if beside_python.is_file() else shutil.which("promtool")
    if promtool is None:
        pytest.fail(
            "`promtool` is missing: apt-get install prometheus (scripts/install-ci-deps.sh)"
        )
    result = subprocess.run(
        [promtool, "check", "rules", str(rules_file)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(rules)} rules found" in result.stdout
