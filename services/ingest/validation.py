"""Validation and normalisation of one raw JSON record: its id here, its fields by the shared
normaliser (contracts.normalise), which POST /predict and `mlbus publish --check` use too.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from contracts import DatasetSpec, FeatureValue, RejectionReason, TargetValue
from contracts.normalise import (
    MAX_RECORD_ID_LENGTH,
    Invalid,
    json_type,
    normalise_fields,
    normalise_text,
    normalise_value,
    record_id_text,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "MAX_RECORD_ID_LENGTH",
    "InvalidRecord",
    "ValidRecord",
    "decode_json",
    "normalise_text",
    "normalise_value",
    "stable_record_id",
    "validate_record",
]


@dataclass(frozen=True)
class ValidRecord:
    """A normalised record: exactly the spec's features, and a target when labelled."""

    record_id: str
    features: dict[str, FeatureValue]
    target: TargetValue = None
    # The message carried no id: `record_id` is a fresh one, outside the duplicate window.
    generated_id: bool = False
    # Features that were missing or null and took the spec's imputed value.
    imputed: tuple[str, ...] = ()

    @property
    def labelled(self) -> bool:
        return self.target is not None


@dataclass(frozen=True)
class InvalidRecord:
    """A record that cannot be accepted, with every reason; `record_id` when one is known."""

    record_id: str | None
    reasons: tuple[RejectionReason, ...] = field(default=())


# --- whole messages ----------------------------------------------------------------------


def decode_json(raw: bytes) -> Any:
    """The decoded JSON value of `raw`, or a RejectionReason (rule 'json') when it is not JSON."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:  # bad UTF-8 and too deep nesting included
        return RejectionReason(field=None, rule="json", message=f"not valid JSON: {exc}")


def stable_record_id(record: Mapping[str, Any]) -> str:
    """First 16 hex digits of the sha256 of the record's canonical JSON."""
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def validate_record(
    record: object, spec: DatasetSpec, *, fresh_id: str | None = None
) -> ValidRecord | InvalidRecord:
    """Normalise `record` (a decoded JSON value) for `spec`, or report everything wrong with it.

    A record without an id takes `fresh_id` (the caller's: one per message and record), or the
    id derived from its content when none is given.
    """
    if not isinstance(record, dict):
        reason = RejectionReason(
            field=None, rule="type", message=f"expected a JSON object, got {json_type(record)}"
        )
        return InvalidRecord(record_id=None, reasons=(reason,))
    reasons: list[RejectionReason] = []
    record_id, generated_id = _record_id(record, spec.record_id_field, reasons, fresh_id)
    fields = normalise_fields(record, spec)
    reasons.extend(fields.reasons)
    if reasons:
        return InvalidRecord(record_id=record_id, reasons=tuple(reasons))
    assert record_id is not None  # no reasons means the id was valid
    return ValidRecord(
        record_id, fields.features, fields.target, generated_id=generated_id, imputed=fields.imputed
    )


# --- the record id -----------------------------------------------------------------------


def _record_id(
    record: Mapping[str, Any],
    id_field: str,
    reasons: list[RejectionReason],
    fresh_id: str | None,
) -> tuple[str | None, bool]:
    """The record's id and whether it was generated; an unusable id adds a reason."""
    value = record.get(id_field)
    if value is None:
        return (fresh_id if fresh_id is not None else stable_record_id(record)), True
    try:
        return record_id_text(value), False
    except Invalid as exc:
        reasons.append(RejectionReason(field=id_field, rule=exc.rule, message=exc.message))
        return None, False
