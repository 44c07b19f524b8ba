"""The shared HTTP bounds: which limit a route gets, and a 422 that can always be sent."""

from __future__ import annotations

import json
from typing import Any

from fastapi.exceptions import RequestValidationError

from services.common.http import (
    DEFAULT_BODY_BYTES,
    MAX_ECHOED_CHARS,
    BodyLimit,
    LimitBodies,
    validation_problem,
)


async def _nothing(scope: Any, receive: Any, send: Any) -> None:
    return None


def test_the_first_matching_rule_gives_the_limit_and_others_get_the_default() -> None:
    limits = LimitBodies(
        _nothing,
        [BodyLimit("POST", "/models/[^/]+/versions", 100), BodyLimit("POST", "/models/.*", 5)],
    )
    assert limits.limit_for("POST", "/models/m/versions") == 100
    assert limits.limit_for("POST", "/models/m/rollback") == 5
    assert limits.limit_for("POST", "/models/m/versions/extra") == 5  # a full match only
    assert limits.limit_for("GET", "/models/m/versions") == DEFAULT_BODY_BYTES


async def _answer(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    response = await validation_problem(None, RequestValidationError(errors))  # type: ignore[arg-type]
    assert response.status_code == 422
    detail: list[dict[str, Any]] = json.loads(bytes(response.body))["detail"]
    return detail


async def test_a_422_echoes_only_scalars_cut_short_and_json_safe() -> None:
    nested: Any = 0
    for _ in range(50_000):  # deeper than any recursive encoder goes
        nested = [nested]
    issues = await _answer(
        [
            {"type": "t", "loc": ("body", 0), "msg": "m", "input": nested},
            {"type": "t", "loc": ("body", "a\ud800"), "msg": "m\udfff", "input": float("nan")},
            {"type": "t", "loc": ("body",), "msg": "m", "input": "x" * 10_000},
            {"type": "t", "loc": ("body",), "msg": "m", "input": 10**400},
            {"type": "t", "loc": ("body",), "msg": "m", "input": 1.5},
        ]
    )
    assert "input" not in issues[0]
    assert issues[1] == {"type": "t", "loc": ["body", "a\ufffd"], "msg": "m\ufffd", "input": "nan"}
    assert issues[2]["input"] == "x" * MAX_ECHOED_CHARS + "..."
    assert "input" not in issues[3]
    assert issues[4]["input"] == 1.5
