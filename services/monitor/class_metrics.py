"""The monitor's Prometheus metrics of classifiers (names fixed by the dashboards and alerts).

They follow the live-error metrics: `model` and `model_version` labels, `role` for what joined
labels score (champion or shadow), and one series per score in a `metric` label.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Gauge

if TYPE_CHECKING:
    from collections.abc import Mapping

    from services.monitor.class_window import ClassScores
    from services.monitor.live_error import ErrorKey
    from services.monitor.stats import ColumnStatistics
    from services.monitor.windows import ModelKey


class ClassifierMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.score = Gauge(
            "mlbus_classification_score",
            "Live scores of a classifier on its latest joined labels (a sliding window): "
            "accuracy, log_loss, macro_f1, roc_auc (binary), ece (expected calibration error)",
            ["model", "model_version", "role", "metric"],
            registry=registry,
        )
        self.class_score = Gauge(
            "mlbus_classification_class_score",
            "Live recall and precision of each class on the latest joined labels (NaN: no "
            "label, or no prediction, of the class in the window)",
            ["model", "model_version", "role", "class", "metric"],
            registry=registry,
        )
        self.labels = Gauge(
            "mlbus_classification_labels",
            "Joined labels in a classifier's live score window",
            ["model", "model_version", "role"],
            registry=registry,
        )
        self.holdout_score = Gauge(
            "mlbus_model_holdout_score",
            "Scores of a classifier version on its training holdout, from its model card",
            ["model", "model_version", "metric"],
            registry=registry,
        )
        self._declare_drift(registry)

    def _declare_drift(self, registry: CollectorRegistry) -> None:
        self.probability_drift = Gauge(
            "mlbus_probability_drift",
            "Drift statistic of a class's predicted probability in the latest window (as "
            "mlbus_prediction_drift; adjusted in one family with the features' tests)",
            ["model", "model_version", "class", "statistic"],
            registry=registry,
        )
        self.label_drift = Gauge(
            "mlbus_label_drift",
            "Drift statistic of the class balance of the latest joined labels against the "
            "training labels (psi, chi2, p_value, total_variation, drifting)",
            ["model", "model_version", "statistic"],
            registry=registry,
        )
        self.label_distribution = Gauge(
            "mlbus_label_distribution",
            "Share of each class among labels: the training labels' and the latest joined ones'",
            ["model", "model_version", "class", "source"],
            registry=registry,
        )

    def record_scores(self, key: ErrorKey, scores: ClassScores) -> None:
        labels = {"model": key[0], "model_version": str(key[1]), "role": key[2]}
        for metric, value in scores.as_dict().items():
            self.score.labels(**labels, metric=metric).set(value)
        for class_name in scores.recall:
            for metric, values in (("recall", scores.recall), ("precision", scores.precision)):
                self.class_score.labels(**labels, **{"class": class_name}, metric=metric).set(
                    values[class_name]
                )
        self.labels.labels(**labels).set(scores.count)

    def record_holdout(self, key: ModelKey, scores: Mapping[str, float]) -> None:
        for metric, value in scores.items():
            self.holdout_score.labels(model=key[0], model_version=str(key[1]), metric=metric).set(
                value
            )

    def record_probabilities(self, key: ModelKey, drift: Mapping[str, ColumnStatistics]) -> None:
        for class_name, stats in drift.items():
            for statistic, value in stats.as_dict().items():
                self.probability_drift.labels(
                    model=key[0],
                    model_version=str(key[1]),
                    statistic=statistic,
                    **{"class": class_name},
                ).set(value)

    def record_labels(
        self, key: ModelKey, drift: ColumnStatistics, shares: Mapping[str, tuple[float, float]]
    ) -> None:
        """Label drift, and each class's (reference, window) share."""
        version = {"model": key[0], "model_version": str(key[1])}
        for statistic, value in drift.as_dict().items():
            self.label_drift.labels(**version, statistic=statistic).set(value)
        for class_name, (reference, window) in shares.items():
            for source, share in (("reference", reference), ("window", window)):
                self.label_distribution.labels(
                    **version, source=source, **{"class": class_name}
                ).set(share)
