"""Prometheus metrics of ingest; names are fixed by the Grafana dashboards."""

from __future__ import annotations

from typing import Literal

from prometheus_client import CollectorRegistry, Counter

Destination = Literal["training", "prediction"]


class IngestMetrics:
    """Counters of one app, registered in that app's own registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.records = Counter(
            "mlbus_ingest_records_total",
            "Records ingested, by outcome.",
            ["outcome"],
            registry=registry,
        )
        self.routed = Counter(
            "mlbus_ingest_routed_total",
            "Accepted records, by where they were sent.",
            ["destination"],
            registry=registry,
        )
        # Export zeros from the start, so dashboards and rate() see every series.
        for outcome in ("accepted", "rejected"):
            self.records.labels(outcome=outcome)
        for destination in ("training", "prediction"):
            self.routed.labels(destination=destination)

    def accepted(self, destination: Destination) -> None:
        self.records.labels(outcome="accepted").inc()
        self.routed.labels(destination=destination).inc()

    def rejected(self) -> None:
        self.records.labels(outcome="rejected").inc()
