"""Deterministic synthetic records for any dataset spec, with a drift knob.

For the house-price spec the ranges and the price formula are realistic; for any other spec,
values are drawn inside each feature's bounds and the target is a fixed random linear function
of the features, so a model has something to learn. A classification target takes the class
of that function's band: its logistic, with noise, cut into equal bands, one a class.
"""

from __future__ import annotations

import math
import random
from typing import TYPE_CHECKING, Any

from contracts import (
    HOUSE_PRICES,
    BooleanFeature,
    CategoricalFeature,
    ClassificationTarget,
    DatasetSpec,
    Feature,
    IntegerFeature,
    NumericFeature,
)

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

Record = dict[str, Any]

# Plausible marginals for the house-price data set (area in square feet).
_HOUSE_RANGES: dict[str, tuple[float, float]] = {
    "area": (1650, 16200),
    "bedrooms": (1, 6),
    "bathrooms": (1, 4),
    "stories": (1, 4),
    "parking": (0, 3),
}
_HOUSE_YES_RATE = {
    "mainroad": 0.86,
    "guestroom": 0.18,
    "basement": 0.35,
    "hotwaterheating": 0.05,
    "airconditioning": 0.32,
    "prefarea": 0.23,
}
_FURNISHING = {"furnished": 0.26, "semi-furnished": 0.42, "unfurnished": 0.32}


class RecordGenerator:
    """Yields records for `spec`; the same seed gives the same records."""

    def __init__(
        self,
        spec: DatasetSpec = HOUSE_PRICES,
        *,
        seed: int = 0,
        drift: Mapping[str, float] | None = None,
        id_prefix: str = "rec",
    ) -> None:
        self.spec = spec
        self.drift = dict(drift or {})
        unknown = sorted(set(self.drift) - set(spec.feature_names))
        if unknown:
            raise ValueError(f"drift names features that {spec.name!r} does not have: {unknown}")
        self._rng = random.Random(seed)
        self._id_prefix = id_prefix
        self._count = 0
        self._is_house = spec.name == HOUSE_PRICES.name
        coef_rng = random.Random(f"{spec.name}-coefficients")
        self._coefficients = {f.name: coef_rng.uniform(-1, 1) for f in spec.features}
        # Scores centre near 0 (features scale to [0, 1]), so that every class turns up.
        self._centre = 0.5 * sum(self._coefficients.values())

    def record(self, *, labelled: bool = True) -> Record:
        features = {f.name: self._value(f) for f in self.spec.features}
        record: Record = {self.spec.record_id_field: f"{self._id_prefix}-{self._count:08d}"}
        record.update(features)
        if labelled:
            record[self.spec.target.name] = self._label(features)
        self._count += 1
        return record

    def records(self, count: int, *, labelled: bool = True) -> Iterator[Record]:
        for _ in range(count):
            yield self.record(labelled=labelled)

    # --- features ------------------------------------------------------------------------

    def _value(self, feature: Feature) -> Any:
        shift = self.drift.get(feature.name, 0.0)
        match feature:
            case NumericFeature() | IntegerFeature():
                return self._number(feature, shift)
            case CategoricalFeature():
                return self._category(feature, shift)
            case BooleanFeature():
                return self._rng.random() < min(1.0, max(0.0, 0.5 + shift))
        raise TypeError(f"unsupported feature {feature!r}")

    def _number(self, feature: NumericFeature | IntegerFeature, shift: float) -> float | int:
        low, high = self._range(feature)
        # A triangular draw skewed to the low end, like most real sizes and counts.
        value = self._rng.triangular(low, high, low + (high - low) * 0.3)
        # Drift moves the distribution by `shift` times its width, then clamps to the bounds.
        value += shift * (high - low)
        value = _clamp(value, feature.min, feature.max)
        if isinstance(feature, IntegerFeature):
            return round(value)
        return round(value, 1)

    def _range(self, feature: NumericFeature | IntegerFeature) -> tuple[float, float]:
        if self._is_house and feature.name in _HOUSE_RANGES:
            return _HOUSE_RANGES[feature.name]
        low = feature.min if feature.min is not None else 0.0
        high = feature.max if feature.max is not None else low + 100.0
        return float(low), float(high)

    def _category(self, feature: CategoricalFeature, shift: float) -> str:
        weights = self._category_weights(feature)
        if shift:
            # Drift moves probability mass towards the last category.
            last = feature.categories[-1]
            moved = {c: w * (1 - min(abs(shift), 1.0)) for c, w in weights.items()}
            moved[last] += 1 - sum(moved.values())
            weights = moved
        return self._rng.choices(list(weights), weights=list(weights.values()))[0]

    def _category_weights(self, feature: CategoricalFeature) -> dict[str, float]:
        if self._is_house and feature.name in _HOUSE_YES_RATE:
            yes = _HOUSE_YES_RATE[feature.name]
            return {"yes": yes, "no": 1 - yes}
        if self._is_house and feature.name == "furnishingstatus":
            return dict(_FURNISHING)
        return {c: 1.0 / len(feature.categories) for c in feature.categories}

    # --- target --------------------------------------------------------------------------

    def _label(self, features: Mapping[str, Any]) -> float | str:
        target = self.spec.target
        if isinstance(target, ClassificationTarget):
            return self._class(target, features)
        return round(self._target(features), 2)

    def _target(self, features: Mapping[str, Any]) -> float:
        noise = self._rng.gauss(0, 1)
        if self._is_house:
            return _house_price(features, noise)
        return 100.0 + 10.0 * self._score(features) + noise

    def _class(self, target: ClassificationTarget, features: Mapping[str, Any]) -> str:
        logit = 4.0 * (self._score(features) - self._centre) + self._rng.gauss(0, 0.5)
        probability = 1.0 / (1.0 + math.exp(-logit))
        count = len(target.classes)
        return target.classes[min(int(probability * count), count - 1)]

    def _score(self, features: Mapping[str, Any]) -> float:
        return sum(
            self._coefficients[n] * _as_number(self.spec.feature(n), v) for n, v in features.items()
        )


def _house_price(f: Mapping[str, Any], noise: float) -> float:
    """A price in the style of the classic data set: area dominates, amenities add premiums."""
    price = 500_000 + 250 * f["area"] + 120_000 * f["bathrooms"] + 90_000 * f["stories"]
    price += 60_000 * f["bedrooms"] + 70_000 * f["parking"]
    premiums = {
        "mainroad": 250_000,
        "guestroom": 150_000,
        "basement": 180_000,
        "hotwaterheating": 300_000,
        "airconditioning": 400_000,
        "prefarea": 350_000,
    }
    price += sum(amount for name, amount in premiums.items() if f[name] == "yes")
    price += {"furnished": 300_000, "semi-furnished": 150_000}.get(f["furnishingstatus"], 0)
    return max(float(price) * math.exp(0.08 * noise), 100_000.0)


def _as_number(feature: Feature, value: Any) -> float:
    if isinstance(feature, CategoricalFeature):
        return feature.categories.index(value) / max(len(feature.categories) - 1, 1)
    if isinstance(feature, BooleanFeature):
        return 1.0 if value else 0.0
    low = feature.min if feature.min is not None else 0.0
    high = feature.max if feature.max is not None else low + 100.0
    return (float(value) - low) / ((high - low) or 1.0)


def _clamp(value: float, low: float | None, high: float | None) -> float:
    if low is not None:
        value = max(value, float(low))
    if high is not None:
        value = min(value, float(high))
    return value
