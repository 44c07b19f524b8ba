"""What the columns of a CSV hold, as `mlbus spec infer` reads them."""

from __future__ import annotations

import math
import re


class Column:
    """What one CSV column holds."""

    def __init__(self, name: str, cells: list[str]) -> None:
        self.name = name
        self.values = [cell.strip() for cell in cells if cell.strip() != ""]
        self.nullable = len(self.values) < len(cells)
        self.numbers = [_number(v) for v in self.values]

    @property
    def numeric(self) -> bool:
        return bool(self.values) and all(n is not None for n in self.numbers)

    @property
    def integral(self) -> bool:
        return self.numeric and all(re.fullmatch(r"[+-]?\d+", v) for v in self.values)

    @property
    def distinct(self) -> bool:
        """Every cell present and no value twice: what an identifier column looks like."""
        return bool(self.values) and not self.nullable and len(set(self.values)) == len(self.values)

    def finite_numbers(self) -> list[float]:
        return [n for n in self.numbers if n is not None and math.isfinite(n)]


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None
