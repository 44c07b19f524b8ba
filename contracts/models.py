"""Model metadata shared by trainer, registry, predictor and monitor."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# No contract carries inf or NaN: JSON has no spelling for them (encoders write null or a
# non-standard literal), and a stored one would break every later read of the record.
FINITE = ConfigDict(allow_inf_nan=False)


class ModelMetrics(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow", **FINITE)

    rmse: float
    mae: float
    r2: float
    holdout_size: int
    parity_max_abs_error: float = Field(description="largest |onnx - sklearn| on the holdout")
    # The champion at training time, scored on this version's holdout: the promotion policy
    # compares both models on the same records.
    champion_version: int | None = None
    champion_rmse: float | None = None

    @model_validator(mode="after")
    def _extras_are_finite(self) -> ModelMetrics:
        """Extra metrics are free-form, but a number among them must be finite too."""
        extras = (self.model_extra or {}).items()
        where = next((at for key, item in extras if (at := _non_finite(item, key))), None)
        if where is not None:
            raise ValueError(f"{where} is not a finite number")
        return self


def _non_finite(value: object, path: str) -> str | None:
    """Where `value` (decoded JSON) holds inf or NaN, or None."""
    if isinstance(value, float):
        return None if math.isfinite(value) else path
    if isinstance(value, Mapping):
        items = ((f"{path}.{key}", item) for key, item in value.items())
    elif isinstance(value, list | tuple):
        items = ((f"{path}[{index}]", item) for index, item in enumerate(value))
    else:
        return None
    return next((found for at, item in items if (found := _non_finite(item, at))), None)


class NumericReference(BaseModel):
    """Quantile bins of a numeric column: `fractions[i]` lies between edges i and i+1."""

    model_config = ConfigDict(frozen=True, extra="forbid", **FINITE)

    type: Literal["numeric"] = "numeric"
    bin_edges: tuple[float, ...] = Field(min_length=2)
    fractions: tuple[float, ...] = Field(min_length=1)


class CategoricalReference(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", **FINITE)

    type: Literal["categorical"] = "categorical"
    frequencies: dict[str, float]


ColumnReference = Annotated[NumericReference | CategoricalReference, Field(discriminator="type")]


class ReferenceStatistics(BaseModel):
    """The monitor's baseline: each feature and the predictions on the training data."""

    model_config = ConfigDict(frozen=True, extra="forbid", **FINITE)

    features: dict[str, ColumnReference]
    prediction: NumericReference


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
