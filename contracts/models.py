"""Model metadata shared by trainer, registry, predictor and monitor."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

# No contract carries inf or NaN: JSON has no spelling for them (encoders write null or a
# non-standard literal), and a stored one would break every later read of the record.
FINITE = ConfigDict(allow_inf_nan=False)

JsonScalar = float | int | str | bool | None


class HoldoutRows(BaseModel):
    """The records a score was computed on: how many, and which (sha256 of their sorted ids)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    count: int = Field(ge=0)
    fingerprint: str = Field(description="sha256 of the sorted record ids, one per line")


class ChampionComparison(BaseModel):
    """The champion at training time and this model, scored on the same holdout records,
    which neither of them trained on: what the promotion policy compares."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    champion_version: int
    champion_rmse: float
    rmse: float = Field(description="this model's rmse on the same rows")
    rows: HoldoutRows


class ModelMetrics(BaseModel):
    """What the trainer records about a run: scores, parity, and how to replay it.

    Every key a trainer has ever written is a typed field. Unknown keys are dropped on reading
    (not kept, not refused), so a card stored or published with them still loads everywhere;
    the registry refuses them on upload (services/registry/validation.py).
    """

    model_config = ConfigDict(frozen=True, extra="ignore", **FINITE)

    rmse: float
    mae: float
    r2: float
    holdout_size: int
    parity_max_abs_error: float = Field(description="largest |onnx - sklearn| on the holdout")
    parity_max_rel_error: float | None = Field(
        default=None, description="largest |onnx - sklearn| / max(|sklearn|, 1) on the holdout"
    )
    parity_spread_error: float | None = Field(
        default=None,
        description="largest |onnx - sklearn| / std of the holdout target: the parity figure",
    )
    parity_tolerance: float | None = Field(
        default=None, description="the largest parity_spread_error the trainer accepts"
    )
    train_size: int | None = None
    training_seconds: float | None = None
    seed: int | None = None
    hyperparameters: dict[str, JsonScalar] | None = None
    snapshot: dict[str, JsonScalar] | None = Field(
        default=None, description="how the snapshot's records were selected (replayable)"
    )
    holdout_fraction: float | None = Field(
        default=None, description="share of record ids held out for good, by a hash of the id"
    )
    holdout_rows: HoldoutRows | None = Field(
        default=None, description="the holdout records rmse, mae and r2 were computed on"
    )
    comparison: ChampionComparison | None = None
    # The champion at training time, scored on this version's holdout (older cards; new ones
    # also carry `comparison`, which names the rows).
    champion_version: int | None = None
    champion_rmse: float | None = None


class NumericReference(BaseModel):
    """Bins of a numeric column: `fractions[i]` lies between edges i and i+1.

    "quantile" bins are half-open [a, b) with a closed last bin between quantiles of the
    data; "discrete" bins hold one value each (edges halfway between consecutive values,
    half a gap beyond the extremes), and live values outside them are counted apart.
    `fractions` are of the values present; `missing_fraction` is the share of rows without
    a value (None, NaN, infinite).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", **FINITE)

    type: Literal["numeric"] = "numeric"
    bin_edges: tuple[float, ...] = Field(min_length=2)
    fractions: tuple[float, ...] = Field(min_length=1)
    binning: Literal["quantile", "discrete"] = "quantile"
    missing_fraction: float = Field(default=0.0, ge=0, le=1)


class CategoricalReference(BaseModel):
    """Share of each category among the values present; `missing_fraction` of rows lack one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["categorical"] = "categorical"
    frequencies: dict[str, float]
    missing_fraction: float = Field(default=0.0, ge=0, le=1)


ColumnReference = Annotated[NumericReference | CategoricalReference, Field(discriminator="type")]


class ReferenceStatistics(BaseModel):
    """The monitor's baseline: each feature and the predictions on the training data."""

    model_config = ConfigDict(frozen=True, extra="forbid", **FINITE)

    features: dict[str, ColumnReference]
    prediction: NumericReference
    # Training rows behind the statistics (the tests' reference sample size); None in
    # references written before it was recorded, where the monitor falls back to the
    # snapshot's size.
    size: int | None = Field(default=None, ge=1)


class OnnxInput(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", **FINITE)

    name: str
    type: Literal["float", "string"]


class ModelCard(BaseModel):
    """What the trainer uploads beside the ONNX bytes."""

    model_config = ConfigDict(frozen=True, extra="forbid", **FINITE)

    model_name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    dataset: str
    estimator: str
    metrics: ModelMetrics
    inputs: tuple[OnnxInput, ...] = Field(description="ONNX inputs: one [N,1] tensor per feature")
    snapshot_fingerprint: str
    snapshot_size: int
    reference: ReferenceStatistics


class ModelVersion(BaseModel):
    """A stored version as the registry serves it."""

    model_config = ConfigDict(frozen=True, extra="forbid", **FINITE)

    model_name: str
    version: int
    sha256: str
    size_bytes: int
    created_at: str
    aliases: tuple[str, ...] = ()
    card: ModelCard
