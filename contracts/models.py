"""Model metadata shared by trainer, registry, predictor and monitor."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.datasets import Target

# No contract carries inf or NaN: JSON has no spelling for them (encoders write null or a
# non-standard literal), and a stored one would break every later read of the record.
FINITE = ConfigDict(allow_inf_nan=False)

JsonScalar = float | int | str | bool | None


class HoldoutRows(BaseModel):
    """The records a score was computed on: how many, and which (sha256 of their sorted ids)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    count: int = Field(ge=0)
    fingerprint: str = Field(description="sha256 of the sorted record ids, one per line")


ScoreMetric = Literal["rmse", "log_loss", "macro_f1", "roc_auc", "accuracy"]
# The scores where less is better; for the others more is better.
LOWER_IS_BETTER: frozenset[str] = frozenset({"rmse", "log_loss"})


def as_loss(metric: ScoreMetric, score: float) -> float:
    """A score as a loss, less is better: itself for rmse and log loss, 1 - score otherwise."""
    return score if metric in LOWER_IS_BETTER else 1.0 - score


class ChampionComparison(BaseModel):
    """The champion at training time and this model, scored on the same holdout records,
    which neither of them trained on: what the promotion policy compares (regression)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    champion_version: int
    champion_rmse: float
    rmse: float = Field(description="this model's rmse on the same rows")
    rows: HoldoutRows


class ScoreComparison(BaseModel):
    """As ChampionComparison, by any score: a classifier's (log loss, macro F1, ...)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    champion_version: int
    metric: ScoreMetric
    champion_score: float
    score: float = Field(description="this model's score by `metric` on the same rows")
    rows: HoldoutRows


class ModelMetrics(BaseModel):
    """What the trainer records about a run: scores, parity, and how to replay it.

    Every key a trainer has ever written is a typed field. Unknown keys are dropped on reading
    (not kept, not refused), so a card stored or published with them still loads everywhere;
    the registry refuses them on upload (services/registry/validation.py).
    """

    model_config = ConfigDict(frozen=True, extra="ignore", **FINITE)

    task: Literal["regression", "classification"] = "regression"
    # Regression scores on the holdout (None for a classifier).
    rmse: float | None = None
    mae: float | None = None
    r2: float | None = None
    # Classification scores on the holdout (None for a regressor; roc_auc for binary only).
    log_loss: float | None = None
    accuracy: float | None = None
    macro_f1: float | None = None
    roc_auc: float | None = None
    metric: ScoreMetric = Field(default="rmse", description="the score promotion compares by")
    holdout_size: int
    parity_max_abs_error: float = Field(
        description="largest |onnx - sklearn| on the holdout: predictions, or probabilities"
    )
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
    score_comparison: ScoreComparison | None = Field(
        default=None, description="classifiers: the champion and this model by `metric`"
    )
    # The champion at training time, scored on this version's holdout (older cards; new ones
    # also carry `comparison`, which names the rows).
    champion_version: int | None = None
    champion_rmse: float | None = None

    def loss(self, metric: ScoreMetric | None = None) -> float | None:
        """A score (default: `metric`) as a loss, less is better: 1 - score for a score where
        more is better (all of them lie in [0, 1]); None when the card has no such score."""
        name = metric or self.metric
        score: float | None = getattr(self, name)
        return None if score is None else as_loss(name, score)


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
    prediction: ColumnReference = Field(
        description="numeric predictions; for a classifier the share of each predicted class"
    )
    probabilities: dict[str, NumericReference] | None = Field(
        default=None, description="classifiers: each class's predicted probability, binned"
    )
    labels: CategoricalReference | None = Field(
        default=None, description="classifiers: the class balance of the training labels"
    )
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
    target: Target | None = Field(
        default=None, description="the spec's target at training time; None: regression"
    )
    classes: tuple[str, ...] | None = Field(
        default=None, description="classifiers: the class of each probability column, in order"
    )

    @property
    def is_classifier(self) -> bool:
        return self.classes is not None


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
