"""The predictor's Prometheus metrics (names are what the Grafana dashboards query)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_BATCH_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500)
_INFERENCE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5)


class PredictorMetrics:
    """All predictor metrics, registered on one (per-app) registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.predictions = Counter(
            "mlbus_predictor_predictions_total",
            "Predictions published, by model version",
            ["model", "version"],
            registry=registry,
        )
        self.batch_size = Histogram(
            "mlbus_predictor_batch_size",
            "Requests per consumed batch",
            buckets=_BATCH_BUCKETS,
            registry=registry,
        )
        self.inference_seconds = Histogram(
            "mlbus_predictor_inference_seconds",
            "Time of one batch's onnxruntime call",
            buckets=_INFERENCE_BUCKETS,
            registry=registry,
        )
        self.model_version = Gauge(
            "mlbus_predictor_model_version",
            "Version of the model being served",
            ["model"],
            registry=registry,
        )
        self.model_loads = Counter(
            "mlbus_predictor_model_loads_total",
            "Model loads, by outcome",
            ["outcome"],
            registry=registry,
        )
        self.rejected = Counter(
            "mlbus_predictor_rejected_total",
            "Requests that could not be parsed or scored, sent to the rejected topic",
            registry=registry,
        )
        for outcome in ("loaded", "refused"):
            self.model_loads.labels(outcome=outcome)  # export zeros before the first load
