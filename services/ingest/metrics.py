"""Prometheus metrics of ingest; names are fixed by the Grafana dashboards."""

from __future__ import annotations

from typing import Literal

from prometheus_client import CollectorRegistry, Counter

Destination = Literal["training", "prediction"]
OUTCOMES = ("accepted", "rejected", "duplicate")
# The `dataset` label of records whose data set is not known: whatever a message names, the
# label takes only known names and this one, so a hostile header cannot grow the series.
UNKNOWN_DATASET = "unknown"


class IngestMetrics:
    """Counters of one app, registered in that app's own registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.records = Counter(
            "mlbus_ingest_records_total",
            "Records received, by outcome and data set:"
            " received = accepted + rejected + duplicate.",
            ["outcome", "dataset"],
            registry=registry,
        )
        self.routed = Counter(
            "mlbus_ingest_routed_total",
            "Accepted records, by where they were sent.",
            ["destination"],
            registry=registry,
        )
        # Export zeros from the start, so dashboards and rate() see every series.
        for destination in ("training", "prediction"):
            self.routed.labels(destination=destination)

    def export(self, dataset: str) -> None:
        """Zeros for a data set's series (called as it becomes known), for rate() to see."""
        for outcome in OUTCOMES:
            self.records.labels(outcome=outcome, dataset=dataset)

    def count(
        self,
        outcome: str,
        dataset: str | None,
        destination: Destination | None = None,
        records: int = 1,
    ) -> None:
        """Records of one outcome (one of OUTCOMES) of a known data set (None: not known);
        accepted ones name their destination."""
        label = UNKNOWN_DATASET if dataset is None else dataset
        self.records.labels(outcome=outcome, dataset=label).inc(records)
        if destination is not None:
            self.routed.labels(destination=destination).inc(records)
