"""Topic names of the flow in DESIGN.md, with an optional prefix per deployment or test."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

RAW = "ingest.raw.v1"
RECORDS = "ingest.records.v1"
PREDICT_REQUESTS = "predict.requests.v1"
REJECTED = "ingest.rejected.v1"
MODELS = "registry.models.v1"
PREDICT_RESULTS = "predict.results.v1"
PREDICT_SHADOW = "predict.shadow.v1"
DRIFT = "monitor.drift.v1"
TRAINER_COMMANDS = "trainer.commands.v1"
# The monitor's checkpoints (counts and the offsets they cover): compacted, keyed by group id.
MONITOR_STATE = "monitor.state.v1"
# Every data set's spec versions (SpecRegistered): compacted, keyed by data set name.
SPECS = "registry.specs.v1"
# Topics where only the latest value per key matters: created with cleanup.policy=compact.
COMPACTED_TOPICS = (MONITOR_STATE, SPECS)
# The Kafka header of a raw message that names its data set (UTF-8); none: ingest's default.
DATASET_HEADER = "mlbus-dataset"


class Topics(BaseModel):
    """The concrete topic names one deployment uses; a prefix isolates tests and tenants."""

    model_config = ConfigDict(frozen=True)

    raw: str = RAW
    records: str = RECORDS
    predict_requests: str = PREDICT_REQUESTS
    rejected: str = REJECTED
    models: str = MODELS
    predict_results: str = PREDICT_RESULTS
    predict_shadow: str = PREDICT_SHADOW
    drift: str = DRIFT
    trainer_commands: str = TRAINER_COMMANDS
    monitor_state: str = MONITOR_STATE
    specs: str = SPECS

    @classmethod
    def with_prefix(cls, prefix: str) -> Topics:
        """Every topic name prefixed with `prefix` (empty keeps the standard names)."""
        defaults = cls()
        if not prefix:
            return defaults
        return cls(**{name: f"{prefix}{value}" for name, value in defaults.model_dump().items()})

    def all(self) -> list[str]:
        return list(self.model_dump().values())
