"""Events and commands on the bus: frozen, tagged by `kind`, never edited once published.

A breaking change gets a new class (and `kind` / topic version) beside the old one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Literal
from uuid import UUID, uuid4

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter

from contracts.datasets import DatasetSpec, FeatureValue
from contracts.models import FINITE, ModelMetrics

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

Features = dict[str, FeatureValue]
# A number (regression) or a class name (classification); None: unlabelled. JSON numbers stay
# numbers and strings stay strings (pydantic's smart union): a class is never read as a number.
TargetValue = float | str | None


def _now() -> datetime:
    return datetime.now(UTC)


class Envelope(BaseModel):
    """Fields every message on the bus carries; numbers in them are finite (FINITE)."""

    model_config = ConfigDict(frozen=True, extra="forbid", **FINITE)

    event_id: UUID = Field(default_factory=uuid4)
    occurred_at: datetime = Field(default_factory=_now)


# --- ingest ---------------------------------------------------------------------------------


class RecordIngested(Envelope):
    """A validated, normalised record (step 2); `target` is None when unlabelled.

    The target is a number for a regression spec, the class's name for a classification spec.
    """

    kind: Literal["record.ingested.v1"] = "record.ingested.v1"
    record_id: str
    dataset: str
    features: Features
    target: TargetValue = None


class PredictionRequested(Envelope):
    """A validated record without a target, to be scored (step 3)."""

    kind: Literal["prediction.requested.v1"] = "prediction.requested.v1"
    record_id: str
    dataset: str
    features: Features


# A dead-letter event must always fit in a Kafka message (1 MiB by default, message.max.bytes),
# whatever its input: otherwise its publish fails on every retry and blocks the partition. So
# every text it carries is cut, with a note of what was cut, and the reasons are counted. JSON
# spells a character in at most 6 bytes (a control character as \u00XX), so the largest
# possible event is about 6 * (MAX_ORIGINAL_CHARS + MAX_REASONS * (field + rule + message)) =
# 6 * (100,000 + 100 * 400) bytes = 840 KB; tests/faults/test_fault_event_bounds.py sends it.
MAX_ORIGINAL_CHARS = 100_000
MAX_REASONS = 100
MAX_FIELD_CHARS = 120
MAX_RULE_CHARS = 40
MAX_MESSAGE_CHARS = 240
MAX_ID_CHARS = 300  # record ids and sources echoed in a dead-letter event (and its key)


def unicode_text(text: str) -> str:
    """`text` with any lone surrogate spelled as an escape: always encodable as UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def bounded_text(text: str, limit: int) -> str:
    """`text` in at most `limit` characters (`limit` >= 40), cut with a note of how many were
    cut; lone surrogates escaped. Bounding a bounded text changes nothing."""
    text = unicode_text(text)
    if len(text) <= limit:
        return text
    # The note names at most len(text) cut characters: room for that many digits is enough.
    keep = limit - len(_cut_note(len(text)))
    return text[:keep] + _cut_note(len(text) - keep)


def _cut_note(cut: int) -> str:
    return f"...[{cut} more characters cut]"


def bounded_original(original: str) -> str:
    """`original` in at most MAX_ORIGINAL_CHARS characters, cut with a note of how many were cut."""
    return bounded_text(original, MAX_ORIGINAL_CHARS)


def _bounded_optional(limit: int) -> Callable[[str | None], str | None]:
    return lambda text: None if text is None else bounded_text(text, limit)


BoundedField = Annotated[str | None, AfterValidator(_bounded_optional(MAX_FIELD_CHARS))]
BoundedId = Annotated[str | None, AfterValidator(_bounded_optional(MAX_ID_CHARS))]


class RejectionReason(BaseModel):
    # Its texts are bounded (cut with a note) wherever it is made.
    model_config = ConfigDict(frozen=True, extra="forbid")

    field: BoundedField = Field(description="the offending field; None for the whole message")
    rule: Annotated[str, AfterValidator(lambda text: bounded_text(text, MAX_RULE_CHARS))] = Field(
        description="machine-readable rule, e.g. 'json', 'required', 'max'"
    )
    message: Annotated[str, AfterValidator(lambda text: bounded_text(text, MAX_MESSAGE_CHARS))]


def bounded_reasons(reasons: Sequence[RejectionReason]) -> tuple[RejectionReason, ...]:
    """At most MAX_REASONS reasons: the last one says how many more were cut."""
    if len(reasons) <= MAX_REASONS:
        return tuple(reasons)
    more = len(reasons) - (MAX_REASONS - 1)
    summary = RejectionReason(field=None, rule="truncated", message=f"{more} more reasons cut")
    return (*reasons[: MAX_REASONS - 1], summary)


class RecordRejected(Envelope):
    """A message that could not be accepted, with the original bytes and every reason (step 4)."""

    # Bounded by construction (see MAX_ORIGINAL_CHARS): it always fits in a Kafka message.

    kind: Literal["record.rejected.v1"] = "record.rejected.v1"
    record_id: BoundedId = None
    source: Annotated[str, AfterValidator(lambda text: bounded_text(text, MAX_ID_CHARS))] = Field(
        description="topic name, or 'http' for POST /records"
    )
    partition: int | None = None
    offset: int | None = None
    original: Annotated[str, AfterValidator(bounded_original)] = Field(
        description="the original payload, decoded as UTF-8 with replacement"
    )
    reasons: Annotated[tuple[RejectionReason, ...], AfterValidator(bounded_reasons)] = Field(
        min_length=1
    )


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


# --- dataset specs (registry) ---------------------------------------------------------------


class SpecRegistered(Envelope):
    """A new version of a data set's spec, stored by the registry (registry.specs.v1).

    Keyed by `dataset` on a compacted topic: the latest event per data set is its current
    spec. `major` counts the versions declared incompatible (PUT /specs/{name}?major=true):
    state kept for one major (buffers, references, models) does not carry over to the next.
    """

    kind: Literal["spec.registered.v1"] = "spec.registered.v1"
    dataset: str
    version: int = Field(ge=1)
    major: int = Field(ge=1, description="1, then +1 for each version declared incompatible")
    spec: DatasetSpec
    sha256: str = Field(description="sha256 of the spec's canonical JSON (contracts.spec_sha256)")
    registered_at: datetime


class SpecRetired(Envelope):
    """A data set retired by the registry (POST /specs/{name}/retire) on registry.specs.v1.

    Keyed by `dataset` like SpecRegistered, so the latest event of a data set says whether it
    is retired: its records are dead-lettered from then on. `version` is its latest version; a
    SpecRegistered with a higher version brings the data set back.
    """

    kind: Literal["spec.retired.v1"] = "spec.retired.v1"
    dataset: str
    version: int = Field(ge=1, description="the data set's latest version when it was retired")
    reason: str = Field(max_length=500, description="why, as given to the registry")
    retired_at: datetime


SpecEvent = Annotated[SpecRegistered | SpecRetired, Field(discriminator="kind")]
SPEC_EVENT: TypeAdapter[SpecEvent] = TypeAdapter(SpecEvent)


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


class ClassificationMade(Envelope):
    """One record classified: the class and the probability of every class (step 6).

    A binary model picks its positive class when that class's probability reaches
    `threshold`; a multiclass model picks the most probable class (threshold None).
    """

    kind: Literal["classification.made.v1"] = "classification.made.v1"
    record_id: str
    request_event_id: UUID
    model_name: str
    model_version: int
    prediction: str = Field(description="the predicted class")
    probabilities: dict[str, float] = Field(description="every class's probability")
    threshold: float | None = None
    features: Features


PredictionResult = Annotated[PredictionMade | ClassificationMade, Field(discriminator="kind")]
PREDICTION_RESULT: TypeAdapter[PredictionResult] = TypeAdapter(PredictionResult)


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
    dataset: str | None = Field(
        default=None, description="the data set to train on; None: the one training model_name"
    )


TrainerCommand = Annotated[TrainModel, Field(discriminator="kind")]
