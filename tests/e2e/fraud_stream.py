"""A synthetic card-payment stream for the classifier loop: about 1 % fraud, whose pattern moves.

Before the move, fraud is a large amount at night; after it, fraud moves to one merchant kind
("online") at small amounts (30 to 40) and any hour, and online payments grow from 10 % to 30 %
of the stream. A model of the old pattern misses most of the new fraud: its live recall and log
loss fall, the merchant mix and the label balance drift, and a model retrained on recent labels
finds the new pattern.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

from contracts import (
    CategoricalFeature,
    ClassificationTarget,
    DatasetSpec,
    IntegerFeature,
    NumericFeature,
)

MERCHANTS = ("grocery", "fuel", "travel", "online")
SPEC = DatasetSpec(
    name="payments",
    target=ClassificationTarget(name="fraud", classes=("no", "yes"), positive_class="yes"),
    features=(
        NumericFeature(name="amount", min=0),
        IntegerFeature(name="hour", min=0, max=23),
        CategoricalFeature(name="merchant", categories=MERCHANTS),
    ),
)


class PaymentStream:
    """Payments as JSON records; `moved` switches to the new fraud pattern and merchant mix."""

    def __init__(self, seed: int, id_prefix: str, *, moved: bool = False) -> None:
        self._random = random.Random(seed)
        self._prefix = id_prefix
        self._moved = moved
        self._labels: dict[str, str] = {}

    def records(self, count: int, *, labelled: bool = True) -> Iterator[dict[str, Any]]:
        """Payments; unlabelled ones keep their label for `label` (a late label)."""
        for _ in range(count):
            record = self._payment()
            record["record_id"] = f"{self._prefix}-{len(self._labels):06d}"
            label = "yes" if self._is_fraud(record) else "no"
            self._labels[record["record_id"]] = label
            if labelled:
                record["fraud"] = label
            yield record

    def label(self, record_id: str) -> str:
        """The label of a payment this stream made."""
        return self._labels[record_id]

    def _payment(self) -> dict[str, Any]:
        online_share = 0.3 if self._moved else 0.1
        others = [m for m in MERCHANTS if m != "online"]
        online = self._random.random() < online_share
        return {
            "amount": round(self._random.lognormvariate(3.5, 1.0), 2),
            "hour": self._random.randrange(24),
            "merchant": "online" if online else self._random.choice(others),
        }

    def _is_fraud(self, payment: dict[str, Any]) -> bool:
        if self._moved:
            # Online payments between 30 and 40: about 3 % of the moved stream.
            pattern = payment["merchant"] == "online" and 30 <= payment["amount"] <= 40
            return pattern and self._random.random() < 0.9
        night = payment["hour"] < 5
        return night and payment["amount"] > 150 and self._random.random() < 0.9
