"""Compatibility check: a published event class never changes incompatibly.

Every event class (an Envelope with a `kind`) has a JSON-schema snapshot in schemas/<kind>.json.
Consumers refuse unknown fields (extra="forbid"), so any field added, removed, retyped or made
(non-)required breaks them: such a change needs a new class and kind (see contracts/v2.py).
Descriptions, titles and defaults may change. After adding a NEW event class, write its
snapshot with:  MLBUS_UPDATE_CONTRACT_SNAPSHOTS=1 .venv/bin/pytest tests/unit/contracts
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

import pytest

import contracts
from contracts import Envelope, RecordIngested

SNAPSHOTS = Path(__file__).parent / "schemas"
_DOCUMENTATION = {"title", "description", "default", "examples"}
FieldSchemas = dict[str, dict[str, Any]]


def published_events() -> dict[str, type[Envelope]]:
    """Every event class of the contracts package, by its `kind`."""
    found: dict[str, type[Envelope]] = {}
    pending: list[type[Envelope]] = [Envelope]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        kind = cls.model_fields.get("kind")
        if kind is not None and cls.__module__.startswith("contracts.") and kind.default:
            found[str(kind.default)] = cls
    return found


def field_schemas(cls: type[Envelope]) -> FieldSchemas:
    """Each field's schema with references resolved and documentation left out."""
    schema = cls.model_json_schema(mode="validation")
    defs = schema.get("$defs", {})
    required = set(schema.get("required", ()))
    return {
        name: {"required": name in required, "schema": _normal(node, defs)}
        for name, node in schema["properties"].items()
    }


def _normal(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_normal(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return _normal(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
    return {key: _normal(value, defs) for key, value in node.items() if key not in _DOCUMENTATION}


def incompatibilities(old: FieldSchemas, new: FieldSchemas) -> list[str]:
    """What would break a consumer of `old` reading `new` events, or the reverse."""
    problems = [f"field {name!r} removed" for name in old if name not in new]
    problems += [
        f"field {name!r} added (v1 consumers refuse unknown fields)"
        for name in new
        if name not in old
    ]
    for name in sorted(old.keys() & new.keys()):
        if old[name]["required"] != new[name]["required"]:
            now = "required" if new[name]["required"] else "optional"
            problems.append(f"field {name!r} became {now}")
        if not _compatible(old[name]["schema"], new[name]["schema"]):
            problems.append(
                f"field {name!r} changed type: {json.dumps(old[name]['schema'])}"
                f" -> {json.dumps(new[name]['schema'])}"
            )
    return problems


def _compatible(old: Any, new: Any) -> bool:
    """Equal, or `new` only adds optional properties to objects that accept unknown ones
    (additionalProperties true, or absent as JSON Schema reads it: a model whose readers drop
    unknown keys): consumers of either read both (a model card's metrics)."""
    if old == new:
        return True
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return False
    if not (_open(old) and _open(new)) or _shape(old) != _shape(new):
        return False
    before, after = old.get("properties", {}), new.get("properties", {})
    added = after.keys() - before.keys()
    return (
        before.keys() <= after.keys()
        and not added & set(new.get("required", ()))
        and all(_compatible(before[key], after[key]) for key in before)
    )


def _open(node: dict[str, Any]) -> bool:
    return node.get("type") == "object" and node.get("additionalProperties", True) is True


def _shape(node: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in node.items() if k not in ("properties", "additionalProperties")}


def _snapshot_path(kind: str) -> Path:
    return SNAPSHOTS / f"{kind}.json"


def test_every_published_event_matches_its_snapshot() -> None:
    events = published_events()
    assert {"record.ingested.v1", "record.ingested.v2", "record.rejected.v1"} <= set(events)
    if os.environ.get("MLBUS_UPDATE_CONTRACT_SNAPSHOTS") == "1":
        for kind, cls in events.items():
            text = json.dumps(field_schemas(cls), indent=2, sort_keys=True) + "\n"
            _snapshot_path(kind).write_text(text)
    problems: dict[str, list[str]] = {}
    for kind, cls in sorted(events.items()):
        path = _snapshot_path(kind)
        assert path.exists(), f"no snapshot for the new event {kind}: see this module's docstring"
        old = json.loads(path.read_text())
        found = [p for p in incompatibilities(old, field_schemas(cls)) if not _accepted(kind, p)]
        if found:
            problems[kind] = found
    assert not problems, (
        "published events changed incompatibly; add a new version beside the old one "
        f"instead (contracts/v2.py shows how): {json.dumps(problems, indent=2)}"
    )
    snapshotted = {path.stem for path in SNAPSHOTS.glob("*.json")}
    assert snapshotted <= set(events), f"events removed: {sorted(snapshotted - set(events))}"


# Changes made on purpose, each with why no consumer breaks. Anything else fails the test.
_ACCEPTED = {
    # 2026-12, classification: a record's target may be a class name. Records of a regression
    # spec still carry a number (or null) and read as before; only records of a classification
    # spec, which no consumer written before it could use, carry text.
    ("record.ingested.v1", "field 'target' changed type"),
    ("record.ingested.v2", "field 'target' changed type"),
    # 2026-12, classification: rmse, mae and r2 became optional in a model card's metrics. A
    # regressor's card still carries all three; only a classifier's card, which no consumer
    # written before it could serve, lacks them.
    ("model.registered.v1", "field 'metrics' changed type"),
    # 2026-12, many data sets: a TrainModel may name its data set. The trainer is its only
    # consumer and is upgraded with the CLI that sends it; a trainer older than the field
    # refuses (logs and skips) a command that carries it, and trains no wrong data set.
    ("train_model.v1", "field 'dataset' added"),
}


def _accepted(kind: str, problem: str) -> bool:
    return any(kind == k and problem.startswith(p) for k, p in _ACCEPTED)


class _Retyped(Envelope):
    kind: Literal["record.ingested.v1"] = "record.ingested.v1"
    record_id: int  # was str
    dataset: str
    features: contracts.Features
    target: contracts.TargetValue = None


class _Extended(RecordIngested):
    source: str | None = None


class _Narrowed(Envelope):
    kind: Literal["record.ingested.v1"] = "record.ingested.v1"
    record_id: str
    dataset: str
    features: contracts.Features
    target: float  # was optional and nullable


@pytest.mark.parametrize(
    ("changed", "expected"),
    [
        (_Retyped, ["field 'record_id' changed type"]),
        (_Extended, ["field 'source' added"]),
        (_Narrowed, ["field 'target' became required", "field 'target' changed type"]),
    ],
)
def test_the_check_names_incompatible_changes(changed: type[Envelope], expected: list[str]) -> None:
    found = incompatibilities(field_schemas(RecordIngested), field_schemas(changed))
    assert len(found) == len(expected)
    assert all(f.startswith(e) for f, e in zip(found, expected, strict=True))


def test_removing_a_field_is_incompatible_and_documentation_is_not() -> None:
    old = field_schemas(RecordIngested)
    assert incompatibilities(old, {k: v for k, v in old.items() if k != "dataset"}) == [
        "field 'dataset' removed"
    ]

    class Documented(RecordIngested):
        """Same fields, new description."""

    assert incompatibilities(old, field_schemas(Documented)) == []


def test_an_open_object_may_gain_optional_properties_only() -> None:
    old = {"type": "object", "additionalProperties": True, "properties": {"a": {"type": "number"}}}
    gained = {**old, "properties": {"a": {"type": "number"}, "b": {"type": "string"}}}
    assert _compatible(old, gained)
    assert not _compatible(old, {**gained, "required": ["b"]})
    assert not _compatible(old, {**old, "properties": {"a": {"type": "string"}}})
    closed = {**old, "additionalProperties": False}
    assert not _compatible(closed, {**gained, "additionalProperties": False})
    assert not _compatible(old, {**old, "additionalProperties": False})  # a reader now refuses
    dropping = {k: v for k, v in gained.items() if k != "additionalProperties"}  # extra="ignore"
    assert _compatible(old, dropping)
