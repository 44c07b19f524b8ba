"""A retired data set's model loses its gauges in the monitor; other models keep theirs."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from contracts import HOUSE_PRICES
from services.common.spec_catalogue import SpecCatalogue
from services.monitor.metrics import MonitorMetrics
from services.monitor.retired_models import on_retirement
from tests.support.spec_samples import registered, rentals, retired


def series(registry: CollectorRegistry, model: str) -> set[str]:
    """The names of the samples labelled with `model`."""
    return {
        sample.name
        for family in registry.collect()
        for sample in family.samples
        if sample.labels.get("model") == model
    }


def fill(metrics: MonitorMetrics, model: str) -> None:
    metrics.feature_psi.labels(model=model, version="1", feature="area").set(0.1)
    metrics.prediction_psi.labels(model=model, version="1").set(0.2)
    metrics.classifier.score.labels(
        model=model, model_version="1", role="champion", metric="accuracy"
    ).set(0.9)
    metrics.count_predictions((model, 1), 3)


def test_retiring_a_data_set_removes_its_models_gauges_only() -> None:
    registry = CollectorRegistry()
    metrics = MonitorMetrics(registry)
    catalogue = SpecCatalogue(HOUSE_PRICES)
    catalogue.on_change(on_retirement(metrics))
    catalogue.learn(registered(rentals()))
    fill(metrics, "rentals")
    fill(metrics, "house-prices")
    before = series(registry, "rentals")
    assert {"mlbus_monitor_feature_psi", "mlbus_classification_score"} <= before

    catalogue.learn(retired("rentals"))
    left = series(registry, "rentals")
    assert "mlbus_monitor_feature_psi" not in left
    assert "mlbus_monitor_prediction_psi" not in left
    assert "mlbus_classification_score" not in left
    assert "mlbus_monitor_predictions_total" in left  # counters stay
    assert series(registry, "house-prices") == before
