"""Prometheus metrics of ingest; names are fixed by the Grafana dashboards."""

from __future__ import annotations

from typing import Literal

from prometheus_client import CollectorRegistry, Counter

Destination = Literal["training", "prediction"]
OUTCOMES = ("accepted", "rejected", "duplicate")


class IngestMetrics:
    """Counters of one app, registered in that app's own registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.records = Counter(
            "mlbus_ingest_records_total",
            "Records received, by outcome: received = accepted + rejected + duplicate.",
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
        for outcome in OUTCOMES:
            self.records.labels(outcome=outcome)
        for destination in ("training", "prediction"):
            self.routed.labels(destination=destination)

    def count(self, outcome: str, destination: Destination | None = None, records: int = 1) -> None:
        """Records of one outcome (one of OUTCOMES); accepted ones name their destination."""
        self.records.labels(outcome=outcome).inc(records)
        if destination is not None:
            self.routed.labels(destination=destination).inc(records)
