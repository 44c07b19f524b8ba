"""Reading dataset specs from YAML or JSON files."""

from __future__ import annotations

from typing import TYPE_CHECKING

import yaml

from contracts import DatasetSpec

if TYPE_CHECKING:
    from pathlib import Path


class SpecError(ValueError):
    """A spec file that cannot be used, with a message naming the file and the problem."""


def load_spec(path: Path) -> DatasetSpec:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"cannot read dataset spec {path}: {exc}") from exc
    try:
        data = yaml.safe_load(text)  # YAML is a superset of JSON: one loader for both
        return DatasetSpec.model_validate(data)
    except (yaml.YAMLError, ValueError) as exc:
        raise SpecError(f"invalid dataset spec {path}: {exc}") from exc


def dump_spec(spec: DatasetSpec) -> str:
    return yaml.safe_dump(spec.model_dump(mode="json", exclude_defaults=False), sort_keys=False)
