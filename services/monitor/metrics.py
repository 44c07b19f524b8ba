"""The monitor's Prometheus metrics (names fixed by the Grafana dashboards)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from services.monitor.windows import ModelKey, WindowReport


class MonitorMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.feature_psi = Gauge(
            "mlbus_monitor_feature_psi",
            "PSI of a feature in the latest window against the model's reference",
            ["model", "version", "feature"],
            registry=registry,
        )
        self.prediction_psi = Gauge(
            "mlbus_monitor_prediction_psi",
            "PSI of the predictions in the latest window against the model's reference",
            ["model", "version"],
            registry=registry,
        )
        self.predictions = Counter(
            "mlbus_monitor_predictions_total",
            "Predictions the monitor has taken into its windows",
            ["model", "version"],
            registry=registry,
        )
        self.drift_events = Counter(
            "mlbus_monitor_drift_events_total",
            "DriftDetected events the monitor has raised",
            ["model"],
            registry=registry,
        )
        self.invalid_messages = Counter(
            "mlbus_monitor_invalid_messages_total",
            "Messages on the prediction topic that are not a valid PredictionMade",
            registry=registry,
        )

    def count_prediction(self, key: ModelKey) -> None:
        self.predictions.labels(model=key[0], version=str(key[1])).inc()

    def record(self, report: WindowReport) -> None:
        labels = {"model": report.model_name, "version": str(report.model_version)}
        for feature, value in report.feature_psi.items():
            self.feature_psi.labels(**labels, feature=feature).set(value)
        if report.prediction_psi is not None:
            self.prediction_psi.labels(**labels).set(report.prediction_psi)
        if report.drift is not None:
            self.drift_events.labels(model=report.model_name).inc()
