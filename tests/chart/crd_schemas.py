"""The schemas of the custom resources the chart renders (KEDA, Prometheus Operator), from their
CRDs vendored in tests/chart/crds, closed: the API server prunes a field a structural schema does
not list without a word, so a misspelled one must fail here instead."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml

# jsonschema is the validator kubernetes-validate itself uses (a dev dependency through it).
from jsonschema import Draft7Validator

CRDS = Path(__file__).resolve().parent / "crds"


def closed(schema: Any) -> Any:
    """Every object schema that lists its properties refuses others, unless it keeps unknowns."""
    if isinstance(schema, list):
        return [closed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {key: closed(value) for key, value in schema.items()}
    keeps_unknown = result.get("x-kubernetes-preserve-unknown-fields", False)
    if "properties" in result and "additionalProperties" not in result and not keeps_unknown:
        result["additionalProperties"] = False
    return result


@functools.cache
def crd_validators() -> dict[tuple[str, str], Draft7Validator]:
    """(apiVersion, kind) -> a validator for each served version of each vendored CRD."""
    validators: dict[tuple[str, str], Draft7Validator] = {}
    for path in sorted(CRDS.glob("*.yaml")):
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd:
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                schema = closed(version["schema"]["openAPIV3Schema"])
                validators[(f"{group}/{version['name']}", kind)] = Draft7Validator(schema)
    return validators
