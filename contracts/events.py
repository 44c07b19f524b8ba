"""Events and commands on the bus: frozen, tagged by `kind`, never edited once published.

A breaking change gets a new class (and `kind` / topic version) beside the old one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from contracts.datasets import FeatureValue
from contracts.models import FINITE, ModelMetrics

Features = dict[str, FeatureValue]


def _now() -> datetime:
    return datetime.now(UTC)


class Envelope(BaseModel):
    """Fields every message on the bus carries; numbers in them are finite (FINITE)."""

    model_config = ConfigDict(frozen=True, extra="forbid", **FINITE)

    event_id: UUID = Field(default_factory=uuid4)
    occurred_at: datetime = Field(default_factory=_now)


# --- ingest ---------------------------------------------------------------------------------


class RecordIngested(Envelope):
    """A validated, normalised record (step 2); `target` is None when unlabelled."""

    kind: Literal["record.ingested.v1"] = "record.ingested.v1"
    record_id: str
    dataset: str
    features: Features
    target: float | None = None


class PredictionRequested(Envelope):
    """A validated record without a target, to be scored (step 3)."""

    kind: Literal["prediction.requested.v1"] = "prediction.requested.v1"
    record_id: str
    dataset: str
    features: Features


class RejectionReason(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    field: str | None = Field(description="the offending field; None for the whole message")
    rule: str = Field(description="machine-readable rule, e.g. 'json', 'required', 'max'")
    message: str


# A dead-letter event must always fit in a Kafka message (1 MiB by default), even when its input
# was huge: otherwise its publish fails on every retry and blocks the partition.
MAX_ORIGINAL_CHARS = 100_000


def bounded_original(original: str) -> str:
    """`original`, cut to MAX_ORIGINAL_CHARS characters with a note of how many were cut."""
    if len(original) <= MAX_ORIGINAL_CHARS:
        return original
    cut = len(original) - MAX_ORIGINAL_CHARS
    return f"{original[:MAX_ORIGINAL_CHARS]}...[{cut} more characters cut]"


class RecordRejected(Envelope):
    """A message that could not be accepted, with the original bytes and every reason (step 4)."""

    kind: Literal["record.rejected.v1"] = "record.rejected.v1"
    record_id: str | None = None
    source: str = Field(description="topic name, or 'http' for POST /records")
    partition: int | None = None
    offset: int | None = None
    original: str = Field(description="the original payload, decoded as UTF-8 with replacement")
    reasons: tuple[RejectionReason, ...] = Field(min_length=1)


# --- registry -------------------------------------------------------------------------------


class _ModelEvent(Envelope):
    model_name: str
    version: int
    sha256: str


class ModelRegistered(_ModelEvent):
    kind: Literal["model.registered.v1"] = "model.registered.v1"
    metrics: ModelMetrics


class ModelPromoted(_ModelEvent):
    kind: Literal["model.promoted.v1"] = "model.promoted.v1"
    alias: str = "champion"
    previous_version: int | None = None
    reason: str


class ModelRolledBack(_ModelEvent):
    kind: Literal["model.rolled_back.v1"] = "model.rolled_back.v1"
    alias: str = "champion"
    previous_version: int
    reason: str


class ModelRefused(Envelope):
    """A model that a service would not accept or load; the old one keeps serving."""

    kind: Literal["model.refused.v1"] = "model.refused.v1"
    model_name: str
    version: int | None = None
    sha256: str | None = None
    refused_by: str = Field(description="the service that refused it, e.g. 'predictor'")
    reason: str


ModelEvent = Annotated[
    ModelRegistered | ModelPromoted | ModelRolledBack | ModelRefused, Field(discriminator="kind")
]
MODEL_EVENT: TypeAdapter[ModelEvent] = TypeAdapter(ModelEvent)


# --- predictor ------------------------------------------------------------------------------


class PredictionMade(Envelope):
    """One scored record; carries its features so the monitor needs no join (step 6)."""

    kind: Literal["prediction.made.v1"] = "prediction.made.v1"
    record_id: str
    request_event_id: UUID
    model_name: str
    model_version: int
    prediction: float
    features: Features


# --- monitor --------------------------------------------------------------------------------


class FeatureDrift(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", **FINITE)

    feature: str
    psi: float


class DriftDetected(Envelope):
    """Drift held for the configured number of windows (step 7)."""

    kind: Literal["drift.detected.v1"] = "drift.detected.v1"
    model_name: str
    model_version: int
    window_size: int
    threshold: float
    features: tuple[FeatureDrift, ...]


# --- trainer --------------------------------------------------------------------------------


class TrainModel(Envelope):
    """Command: train a model now on the records seen so far (step 8)."""

    kind: Literal["train_model.v1"] = "train_model.v1"
    model_name: str | None = Field(default=None, description="defaults to the trainer's setting")
    reason: str = "requested"
    # Optional overrides of the trainer's settings for this run (None: the setting).
    estimator: Literal["linear", "random_forest", "hist_gradient_boosting"] | None = None
    hyperparameters: dict[str, float | int | str | bool | None] | None = Field(
        default=None, description="over the estimator's defaults; None: the trainer's setting"
    )
    seed: int | None = None
    snapshot_mode: Literal["all", "recent", "window"] | None = None
    snapshot_records: int | None = Field(default=None, ge=1, description="for 'recent'")
    snapshot_window_seconds: float | None = Field(default=None, gt=0, description="for 'window'")


TrainerCommand = Annotated[TrainModel, Field(discriminator="kind")]
