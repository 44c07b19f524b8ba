"""The monitor's Prometheus metrics (names fixed by the Grafana dashboards and alert rules)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge

from services.monitor.accumulate import Baseline, ColumnBins, IntArray
from services.monitor.class_metrics import ClassifierMetrics

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from services.monitor.live_error import ErrorKey, ErrorSummary
    from services.monitor.windows import ModelKey, WindowReport

# One counter's values: the labels and the value of each of its series.
CounterSamples = list[tuple[dict[str, str], float]]


class MonitorMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self._declare_first_metrics(registry)
        self._declare_drift_metrics(registry)
        self._declare_error_and_checkpoint_metrics(registry)
        self.classifier = ClassifierMetrics(registry)
        self._seen: set[ModelKey] = set()
        for outcome in ("joined", "expired_prediction", "expired_label"):
            self.labels_joined.labels(outcome=outcome)

    def _declare_first_metrics(self, registry: CollectorRegistry) -> None:
        # Kept from the walking skeleton: mlbus/demo.py and the first dashboard read them.
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
            "Messages on a monitored topic that are not a valid event",
            registry=registry,
        )

    def _declare_drift_metrics(self, registry: CollectorRegistry) -> None:
        # Issue 6.
        self.feature_drift = Gauge(
            "mlbus_feature_drift",
            "Drift statistic of a feature in the latest window (psi, js_distance, ks, chi2, "
            "wasserstein, total_variation, p_value, p_value_adjusted, drifting, missing_rate, "
            "missing_reference_rate, missing_chi2, missing_p_value, missing_p_value_adjusted, "
            "missing_drifting; NaN distribution statistics: no value in the window)",
            ["model", "model_version", "feature", "statistic"],
            registry=registry,
        )
        self.prediction_drift = Gauge(
            "mlbus_prediction_drift",
            "Drift statistic of the predictions in the latest window; p_value_adjusted is "
            "adjusted (BH) in one family with the features' tests",
            ["model", "model_version", "statistic"],
            registry=registry,
        )
        self.dataset_drift = Gauge(
            "mlbus_dataset_drift",
            "1 when the latest complete window drifts as a whole (share of drifting features)",
            ["model", "model_version"],
            registry=registry,
        )
        self.dataset_drift_share = Gauge(
            "mlbus_dataset_drift_share",
            "Share of features drifting in the latest window",
            ["model", "model_version"],
            registry=registry,
        )
        self.windows = Counter(
            "mlbus_monitor_windows_total",
            "Complete windows evaluated, by outcome",
            ["model", "model_version", "outcome"],
            registry=registry,
        )
        self.drift_detected = Counter(
            "mlbus_drift_detected_total",
            "DriftDetected events raised; suppressed ones fell in the cooldown",
            ["model", "outcome"],
            registry=registry,
        )

    def _declare_error_and_checkpoint_metrics(self, registry: CollectorRegistry) -> None:
        self.prediction_error = Gauge(
            "mlbus_prediction_error",
            "Live error of joined labels in the latest error window (rmse, mae)",
            ["model", "model_version", "role", "metric"],
            registry=registry,
        )
        self.holdout_error = Gauge(
            "mlbus_model_holdout_error",
            "Error of a model version on its training holdout, from its model card",
            ["model", "model_version", "metric"],
            registry=registry,
        )
        self.prediction_distribution = Gauge(
            "mlbus_prediction_distribution",
            "Share of predictions per reference bin: the reference's and the latest window's",
            ["model", "model_version", "bin", "source"],
            registry=registry,
        )
        self.labels_joined = Counter(
            "mlbus_monitor_labels_total",
            "Labelled records and predictions by join outcome",
            ["outcome"],
            registry=registry,
        )
        # Of this process only: not carried by the checkpoints they count.
        self.checkpoints = Counter(
            "mlbus_monitor_checkpoints_total",
            "Checkpoints of the monitor's counts: written, unchanged (not written) or failed",
            ["outcome"],
            registry=registry,
        )
        self.checkpoint_bytes = Gauge(
            "mlbus_monitor_checkpoint_bytes",
            "Size of the latest checkpoint of the monitor's counts",
            registry=registry,
        )

    def countable(self) -> dict[str, Counter]:
        """The counters a checkpoint carries, so that a restarted monitor continues them."""
        return {
            "predictions": self.predictions,
            "drift_events": self.drift_events,
            "invalid_messages": self.invalid_messages,
            "windows": self.windows,
            "drift_detected": self.drift_detected,
            "labels_joined": self.labels_joined,
        }

    def counter_values(self) -> dict[str, CounterSamples]:
        return {
            name: [
                (dict(sample.labels), sample.value)
                for metric in counter.collect()
                for sample in metric.samples
                if sample.name.endswith("_total")
            ]
            for name, counter in self.countable().items()
        }

    def restore_counters(
        self, values: Mapping[str, Iterable[tuple[Mapping[str, str], float]]]
    ) -> None:
        """Adds checkpointed values to the (fresh) counters."""
        counters = self.countable()
        for name, samples in values.items():
            counter = counters.get(name)
            if counter is None:
                continue  # a counter this version no longer exports
            for labels, value in samples:
                if counter is self.predictions:  # also initialises the version's other series
                    self.count_predictions((labels["model"], int(labels["version"])), value)
                elif labels:
                    counter.labels(**labels).inc(value)
                else:
                    counter.inc(value)

    def count_predictions(self, key: ModelKey, count: float = 1) -> None:
        if key not in self._seen:
            self._initialise(key)
        self.predictions.labels(model=key[0], version=str(key[1])).inc(count)

    def _initialise(self, key: ModelKey) -> None:
        """Counters start at 0 on a version's first prediction, so increase() sees its first."""
        self._seen.add(key)
        model, version = key[0], str(key[1])
        for outcome in ("clean", "drifting"):
            self.windows.labels(model=model, model_version=version, outcome=outcome)
        for outcome in ("published", "suppressed"):
            self.drift_detected.labels(model=model, outcome=outcome)
        self.drift_events.labels(model=model)

    def record(self, report: WindowReport) -> None:
        model, version = report.model_name, str(report.model_version)
        for feature, stats in report.statistics.features.items():
            self.feature_psi.labels(model=model, version=version, feature=feature).set(stats.psi)
            for statistic, value in stats.as_dict().items():
                self.feature_drift.labels(
                    model=model, model_version=version, feature=feature, statistic=statistic
                ).set(value)
        prediction = report.statistics.prediction
        if prediction is not None:
            self.prediction_psi.labels(model=model, version=version).set(prediction.psi)
            for statistic, value in prediction.as_dict().items():
                self.prediction_drift.labels(
                    model=model, model_version=version, statistic=statistic
                ).set(value)
        self.classifier.record_probabilities(
            (model, report.model_version), report.statistics.probabilities
        )
        self.dataset_drift_share.labels(model=model, model_version=version).set(
            report.statistics.drift_share
        )
        if not report.complete:
            return
        self.dataset_drift.labels(model=model, model_version=version).set(float(report.drifting))
        outcome = "drifting" if report.drifting else "clean"
        self.windows.labels(model=model, model_version=version, outcome=outcome).inc()
        if report.drift is not None:
            self.drift_events.labels(model=model).inc()
            self.drift_detected.labels(model=model, outcome="published").inc()
        elif report.suppressed:
            self.drift_detected.labels(model=model, outcome="suppressed").inc()

    def record_baseline(self, key: ModelKey, baseline: Baseline) -> None:
        labels = {"model": key[0], "model_version": str(key[1])}
        for metric, value in (("rmse", baseline.holdout_rmse), ("mae", baseline.holdout_mae)):
            if value is not None:
                self.holdout_error.labels(**labels, metric=metric).set(value)
        self.classifier.record_holdout(key, baseline.holdout_scores)

    def record_distribution(self, key: ModelKey, baseline: Baseline, counts: IntArray) -> None:
        """Prediction histogram of the window beside the reference's (bins of the reference)."""
        bins = ColumnBins(baseline.reference.prediction)
        counts = counts[: bins.size]  # the missing slot is not a bin of the histogram
        total = int(counts.sum())
        if total == 0:
            return
        labels = {"model": key[0], "model_version": str(key[1])}
        for index, (name, expected, count) in enumerate(
            zip(bins.labels, bins.fractions, counts, strict=True)
        ):
            bin_label = f"{index:02d}: {name}"
            self.prediction_distribution.labels(**labels, bin=bin_label, source="reference").set(
                float(expected)
            )
            self.prediction_distribution.labels(**labels, bin=bin_label, source="window").set(
                int(count) / total
            )

    def record_error(self, key: ErrorKey, summary: ErrorSummary) -> None:
        labels = {"model": key[0], "model_version": str(key[1]), "role": key[2]}
        self.prediction_error.labels(**labels, metric="rmse").set(summary.rmse)
        self.prediction_error.labels(**labels, metric="mae").set(summary.mae)
