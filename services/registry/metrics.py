"""The registry's Prometheus metrics, registered on the app's own CollectorRegistry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class RegistryMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.versions = Counter(
            "mlbus_registry_versions", "Model versions registered", registry=registry
        )
        self.promotions = Counter(
            "mlbus_registry_promotions", "Versions promoted to champion", registry=registry
        )
