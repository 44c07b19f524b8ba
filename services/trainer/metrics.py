"""The trainer's Prometheus metrics, registered on the app's own CollectorRegistry.

Everything about one model carries a `model` label: one trainer trains a model per data set.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

TRAINING_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)


class TrainerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.runs = Counter(
            "mlbus_trainer_runs",
            "Training runs by model and outcome (uploaded, failed)",
            ["model", "outcome"],
            registry=registry,
        )
        self.records_buffered = Gauge(
            "mlbus_trainer_records_buffered",
            "Labelled records held for the next training run of the model",
            ["model"],
            registry=registry,
        )
        self.training_seconds = Histogram(
            "mlbus_trainer_training_seconds",
            "Seconds to fit, convert to ONNX and check parity",
            ["model"],
            buckets=TRAINING_BUCKETS,
            registry=registry,
        )
        self.last_rmse = Gauge(
            "mlbus_trainer_last_rmse",
            "Holdout RMSE of the model's last uploaded version",
            ["model"],
            registry=registry,
        )
        self.last_score = Gauge(
            "mlbus_trainer_last_score",
            "Holdout score of the model's last uploaded version by the metric promotion compares",
            ["model", "metric"],
            registry=registry,
        )
        self.skipped = Counter(
            "mlbus_trainer_skipped",
            "Training requests not run, by model and reason",
            ["model", "reason"],
            registry=registry,
        )
        self.records_pending = Gauge(
            "mlbus_trainer_records_pending",
            "Labelled records of data sets the trainer does not know yet, held until it does",
            registry=registry,
        )
        self.pending_dropped = Counter(
            "mlbus_trainer_records_pending_dropped",
            "Pending records dropped (the oldest) because too many were pending",
            registry=registry,
        )
        self.unrouted = Counter(
            "mlbus_trainer_unrouted",
            "Commands and drift events naming a data set or model the trainer does not train",
            ["event"],
            registry=registry,
        )

    def watch(self, model: str) -> None:
        """Export the model's zeros, so its rates exist from the start."""
        for outcome in ("uploaded", "failed"):
            self.runs.labels(model=model, outcome=outcome)
        self.records_buffered.labels(model=model)
