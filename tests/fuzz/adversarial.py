"""Hostile HTTP bodies, written as JSON *text* so that they can hold what no encoder writes
(lone surrogate escapes, NaN, numbers beyond any float or int64), next to huge keys, deep
nesting, huge arrays, arbitrary bytes and records that are almost valid.

A seeded random generator rather than hypothesis: ten thousand inputs per boundary must take
seconds to make, and a failure names its seed and index, so it can be made again.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from typing import Any

from contracts import HOUSE_PRICES
from mlbus.datagen import RecordGenerator

FIELDS = (
    HOUSE_PRICES.record_id_field,
    HOUSE_PRICES.target.name,
    *(feature.name for feature in HOUSE_PRICES.features),
)
ODD_NUMBERS = (
    "NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1e-999", "-0", "0.0e0", "1E+2",
    str(2**31), str(2**63), str(2**64), str(-(2**63) - 1), "1" + "0" * 400, "9" * 4000,
    "9" * 5000,  # more digits than Python converts: its JSON decoder refuses it
)  # fmt: skip
SURROGATES = ("\\ud800", "\\udfff", "\\udc00", "\\ud83d", "\\ud83d\\ude00", "\\uDBFF\\uDFFF")
ALPHABET = 'aZ09 _-.,:;"\\/\t\n\u00e9\u4e2d\U0001f600\x00\x1f\u2028'


class Hostile:
    """Makes hostile JSON texts from one seeded random source."""

    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)
        self.records = list(RecordGenerator(seed=seed, id_prefix=f"fz{seed}-").records(200))

    def text(self) -> str:
        r = self.random
        return "".join(r.choice(ALPHABET) for _ in range(r.randrange(12)))

    def string(self) -> str:
        r, roll = self.random, self.random.random()
        if roll < 0.08:
            return f'"{_escaped(self.text())}{r.choice(SURROGATES)}{_escaped(self.text())}"'
        if roll < 0.10:
            return '"' + "k" * r.randrange(1_000, 200_000) + '"'
        return json.dumps(self.text(), ensure_ascii=r.random() < 0.5)

    def number(self) -> str:
        r, roll = self.random, self.random.random()
        if roll < 0.3:
            return r.choice(ODD_NUMBERS)
        if roll < 0.6:
            return str(r.randrange(-(2**70), 2**70))
        return repr(r.uniform(-1e12, 1e12))

    def key(self) -> str:
        return (
            json.dumps(self.random.choice(FIELDS)) if self.random.random() < 0.5 else self.string()
        )

    def value(self, depth: int = 0) -> str:
        r, roll = self.random, self.random.random()
        if depth > 3 or roll < 0.55:
            return r.choice(
                (self.number, self.string, lambda: r.choice(("null", "true", "false")))
            )()
        items = [self.value(depth + 1) for _ in range(r.randrange(5))]
        if roll < 0.75:
            return "[" + ",".join(items) + "]"
        return "{" + ",".join(f"{self.key()}:{item}" for item in items) + "}"

    def record(self, flat: bool = False) -> str:
        """A valid record with a few of its fields (or new ones) set to hostile values; only
        scalars when `flat`."""
        r = self.random
        record: dict[str, Any] = dict(r.choice(self.records))
        record[HOUSE_PRICES.record_id_field] = f"fz-{r.randrange(10**12)}"
        parts = {json.dumps(k): json.dumps(v) for k, v in record.items()}
        for _ in range(r.choice((0, 0, 1, 1, 2, 3))):
            parts[self.key()] = self.value(depth=4 if flat else 0)
        return "{" + ",".join(f"{k}:{v}" for k, v in parts.items()) + "}"

    def body(self, record: Callable[[], str], max_records: int) -> bytes:
        """One whole body: mostly `record()` texts alone or in arrays, plus arbitrary bytes,
        deep nesting, arrays of more than `max_records` elements and any JSON value."""
        r, roll = self.random, self.random.random()
        if roll < 0.35:
            text = record()
        elif roll < 0.65:
            text = "[" + ",".join(record() for _ in range(r.randrange(9))) + "]"
        elif roll < 0.80:
            text = self.value()
        elif roll < 0.85:
            depth = r.randrange(2, 100_000)
            opening, closing = r.choice((("[", "]"), ('{"a":', "}")))
            text = opening * depth + "0" + closing * depth
        elif roll < 0.88:
            text = "[" + ",".join(["{}"] * r.randrange(max_records + 1, 20 * max_records)) + "]"
        else:
            return r.randbytes(r.randrange(300))
        return text.encode("utf-8", "surrogatepass")


def _escaped(text: str) -> str:
    return json.dumps(text)[1:-1]


def hostile_bodies(
    seed: int, count: int, record: Callable[[Hostile], str], max_records: int
) -> Iterator[tuple[int, bytes]]:
    """`count` bodies, each with its index (a failure names seed and index)."""
    hostile = Hostile(seed)
    for index in range(count):
        yield index, hostile.body(lambda: record(hostile), max_records)
