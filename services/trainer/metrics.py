"""The trainer's Prometheus metrics, registered on the app's own CollectorRegistry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

TRAINING_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)


class TrainerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.runs = Counter(
            "mlbus_trainer_runs",
            "Training runs by outcome (uploaded, failed)",
            ["outcome"],
            registry=registry,
        )
        self.records_buffered = Gauge(
            "mlbus_trainer_records_buffered",
            "Labelled records held for the next training run",
            registry=registry,
        )
        self.training_seconds = Histogram(
            "mlbus_trainer_training_seconds",
            "Seconds to fit, convert to ONNX and check parity",
            buckets=TRAINING_BUCKETS,
            registry=registry,
        )
        self.last_rmse = Gauge(
            "mlbus_trainer_last_rmse",
            "Holdout RMSE of the last uploaded model",
            registry=registry,
        )
        self.last_score = Gauge(
            "mlbus_trainer_last_score",
            "Holdout score of the last uploaded model by the metric promotion compares",
            ["metric"],
            registry=registry,
        )
        self.skipped = Counter(
            "mlbus_trainer_skipped",
            "Training requests not run, by reason",
            ["reason"],
            registry=registry,
        )
        for outcome in ("uploaded", "failed"):
            self.runs.labels(outcome=outcome)  # export zeros, so rates exist from the start
