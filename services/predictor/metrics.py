"""The predictor's Prometheus metrics (names are what the Grafana dashboards query)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_BATCH_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500)
_INFERENCE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5)
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_LOAD_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class PredictorMetrics:
    """All predictor metrics, registered on one (per-app) registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._declare_scoring_metrics(registry)
        self._declare_model_metrics(registry)

    def export_zeros(self, model: str) -> None:
        """Export `model`'s load, failure and rejection counters at zero before they first
        count: increase() and rate() need a start, or a counter's first step goes unseen."""
        for outcome in ("loaded", "refused", "interrupted"):
            self.model_loads.labels(model=model, outcome=outcome)
        self.shadow_failures.labels(model=model)
        self.rejected.labels(model=model)

    def _declare_scoring_metrics(self, registry: CollectorRegistry) -> None:
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
            "Time of one batch's onnxruntime call, by model",
            ["model"],
            buckets=_INFERENCE_BUCKETS,
            registry=registry,
        )
        self.rejected = Counter(
            "mlbus_predictor_rejected_total",
            "Requests that could not be parsed or scored, sent to the rejected topic, by model"
            ' (model="" for requests of no known data set)',
            ["model"],
            registry=registry,
        )
        self.latency_seconds = Histogram(
            "mlbus_predictor_latency_seconds",
            "From a request's Kafka timestamp to its result being acknowledged by the broker",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.batch_seconds = Histogram(
            "mlbus_predictor_batch_seconds",
            "Time to decode, score and publish one consumed batch",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.consumer_lag = Gauge(
            "mlbus_predictor_consumer_lag",
            "Requests not yet consumed, by partition (high watermark - next offset)",
            ["partition"],
            registry=registry,
        )

    def _declare_model_metrics(self, registry: CollectorRegistry) -> None:
        self.model_version = Gauge(
            "mlbus_predictor_model_version",
            "Version of the model being served",
            ["model"],
            registry=registry,
        )
        self.model_loads = Counter(
            "mlbus_predictor_model_loads_total",
            "Model loads, by model and outcome",
            ["model", "outcome"],
            registry=registry,
        )
        self.model_load_seconds = Histogram(
            "mlbus_predictor_model_load_seconds",
            "Download, verification, loading and warm-up of a model version, by model and alias",
            ["model", "alias"],
            buckets=_LOAD_BUCKETS,
            registry=registry,
        )
        self.swaps = Counter(
            "mlbus_predictor_swaps_total",
            "Models swapped in while serving, by model and alias (champion or challenger)",
            ["model", "alias"],
            registry=registry,
        )
        self.challenger_version = Gauge(
            "mlbus_predictor_challenger_version",
            "Version of the challenger being shadow-scored (0: none)",
            ["model"],
            registry=registry,
        )
        self.shadow_predictions = Counter(
            "mlbus_predictor_shadow_predictions_total",
            "Shadow predictions of the challenger published, by model version",
            ["model", "version"],
            registry=registry,
        )
        self.shadow_failures = Counter(
            "mlbus_predictor_shadow_failures_total",
            "Records the challenger could not score, or shadow sends that failed, by model",
            ["model"],
            registry=registry,
        )

    def version_gauge(self, alias: str) -> Gauge:
        """The gauge of the version serving as `alias`."""
        return self.model_version if alias == "champion" else self.challenger_version
