"""Dataset specs: a data set's features and target, declared as data."""

from __future__ import annotations

import hashlib
import json
import math
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

FeatureValue = float | int | str | bool | None


class _Feature(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    nullable: bool = False
    # The imputation rule of a nullable feature: the value a missing or null entry takes at
    # ingest, so that training and serving fill it the same way. None keeps the null.
    impute: bool | int | float | str | None = None

    @model_validator(mode="after")
    def _impute_fits(self) -> _Feature:
        if self.impute is None:
            return self
        if not self.nullable:
            raise ValueError(f"feature {self.name!r}: impute needs nullable: true")
        problem = self._impute_problem(self.impute)
        if problem:
            raise ValueError(f"feature {self.name!r}: impute value {self.impute!r} {problem}")
        return self

    def _impute_problem(self, value: bool | int | float | str) -> str | None:
        """Why `value` cannot stand for a missing value of this feature; None when it can."""
        return None


def _bounds_problem(value: object, low: float | None, high: float | None) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "is not a number"
    if not math.isfinite(value):
        return "is not finite"
    if (low is not None and value < low) or (high is not None and value > high):
        return "is outside the bounds"
    return None


class NumericFeature(_Feature):
    type: Literal["numeric"] = "numeric"
    min: float | None = None
    max: float | None = None

    def _impute_problem(self, value: bool | int | float | str) -> str | None:
        return _bounds_problem(value, self.min, self.max)


class IntegerFeature(_Feature):
    type: Literal["integer"] = "integer"
    min: int | None = None
    max: int | None = None

    def _impute_problem(self, value: bool | int | float | str) -> str | None:
        if not isinstance(value, int) or isinstance(value, bool):
            return "is not an integer"
        return _bounds_problem(value, self.min, self.max)


class CategoricalFeature(_Feature):
    type: Literal["categorical"] = "categorical"
    categories: tuple[str, ...] = Field(min_length=1)
    # Extra spellings that normalise to a category, e.g. {"y": "yes"}; case and whitespace
    # are normalised before aliases are looked up.
    aliases: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _aliases_point_at_categories(self) -> CategoricalFeature:
        unknown = sorted(set(self.aliases.values()) - set(self.categories))
        if unknown:
            raise ValueError(f"aliases of {self.name!r} point at unknown categories {unknown}")
        return self

    def _impute_problem(self, value: bool | int | float | str) -> str | None:
        return None if value in self.categories else "is not one of the categories"


class BooleanFeature(_Feature):
    type: Literal["boolean"] = "boolean"

    def _impute_problem(self, value: bool | int | float | str) -> str | None:
        return None if isinstance(value, bool) else "is not a boolean"


Feature = Annotated[
    NumericFeature | IntegerFeature | CategoricalFeature | BooleanFeature,
    Field(discriminator="type"),
]


class RegressionTarget(BaseModel):
    """A numeric target: the model predicts a number."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    task: Literal["regression"] = "regression"
    name: str = Field(min_length=1)
    min: float | None = None
    max: float | None = None


ClassificationMetric = Literal["log_loss", "macro_f1", "roc_auc", "accuracy"]


class ClassificationTarget(BaseModel):
    """A target with a fixed set of classes: the model predicts a class and its probabilities.

    Labels normalise like a categorical feature (case, whitespace, aliases; integers as their
    text). A binary target thresholds the probability of `positive_class`; `metric` is what
    promotion compares a challenger and the champion by.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    task: Literal["classification"] = "classification"
    name: str = Field(min_length=1)
    classes: tuple[str, ...] = Field(min_length=2)
    aliases: dict[str, str] = Field(default_factory=dict)
    positive_class: str | None = Field(
        default=None, description="binary only; None: the last of `classes`"
    )
    threshold: float = Field(
        default=0.5, gt=0, lt=1, description="binary: the positive class from this probability"
    )
    metric: ClassificationMetric = "log_loss"

    @model_validator(mode="after")
    def _classes_fit(self) -> ClassificationTarget:
        if len(set(self.classes)) != len(self.classes):
            raise ValueError(f"target {self.name!r}: classes named twice: {list(self.classes)}")
        unknown = sorted(set(self.aliases.values()) - set(self.classes))
        if unknown:
            raise ValueError(f"aliases of target {self.name!r} point at unknown classes {unknown}")
        if self.positive_class is not None and self.positive_class not in self.classes:
            raise ValueError(f"positive_class {self.positive_class!r} is not one of the classes")
        if not self.is_binary and (self.positive_class is not None or self.metric == "roc_auc"):
            raise ValueError("positive_class and metric roc_auc are for binary targets only")
        return self

    @property
    def is_binary(self) -> bool:
        return len(self.classes) == 2

    @property
    def positive(self) -> str:
        """The class whose probability a binary model thresholds."""
        return self.positive_class if self.positive_class is not None else self.classes[-1]


def _target_task(value: object) -> str:
    """A target without `task` is a regression target, as every spec written before it was."""
    if isinstance(value, dict):
        return str(value.get("task", "regression"))
    return str(getattr(value, "task", "regression"))


Target = Annotated[
    Annotated[RegressionTarget, Tag("regression")]
    | Annotated[ClassificationTarget, Tag("classification")],
    Discriminator(_target_task),
]


class DatasetSpec(BaseModel):
    """What a valid record of one data set looks like."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    record_id_field: str = "record_id"
    target: Target
    features: tuple[Feature, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _names_are_unique(self) -> DatasetSpec:
        names = [f.name for f in self.features] + [self.target.name, self.record_id_field]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"field names used twice in spec {self.name!r}: {duplicated}")
        return self

    @property
    def classification(self) -> ClassificationTarget | None:
        """The target, when it is a classification target."""
        return self.target if isinstance(self.target, ClassificationTarget) else None

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    def feature(self, name: str) -> Feature:
        for feature in self.features:
            if feature.name == name:
                return feature
        raise KeyError(name)


def canonical_spec_json(spec: DatasetSpec) -> str:
    """The spec as JSON with sorted keys and defaults filled in: equal specs, equal text."""
    return json.dumps(spec.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))


def spec_sha256(spec: DatasetSpec) -> str:
    """sha256 of the spec's canonical JSON: how the registry tells a changed spec."""
    return hashlib.sha256(canonical_spec_json(spec).encode()).hexdigest()


_YES_NO = ("yes", "no")
_YES_NO_ALIASES = {"y": "yes", "true": "yes", "1": "yes", "n": "no", "false": "no", "0": "no"}


def _yes_no(name: str) -> CategoricalFeature:
    return CategoricalFeature(name=name, categories=_YES_NO, aliases=_YES_NO_ALIASES)


HOUSE_PRICES = DatasetSpec(
    name="house-prices",
    target=RegressionTarget(name="price", min=0),
    features=(
        NumericFeature(name="area", min=100, max=100_000),
        IntegerFeature(name="bedrooms", min=0, max=20),
        IntegerFeature(name="bathrooms", min=0, max=20),
        IntegerFeature(name="stories", min=0, max=10),
        IntegerFeature(name="parking", min=0, max=10),
        _yes_no("mainroad"),
        _yes_no("guestroom"),
        _yes_no("basement"),
        _yes_no("hotwaterheating"),
        _yes_no("airconditioning"),
        _yes_no("prefarea"),
        CategoricalFeature(
            name="furnishingstatus",
            categories=("furnished", "semi-furnished", "unfurnished"),
            aliases={"semifurnished": "semi-furnished", "semi furnished": "semi-furnished"},
        ),
    ),
)
