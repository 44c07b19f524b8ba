"""Lone surrogates are found wherever decoded JSON holds them; valid text passes."""

from __future__ import annotations

import json

import pytest

from contracts.text import lone_surrogate_path, may_hold_surrogate


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        (b'["\\ud800"]', "$[0]"),
        (b'{"a": {"b": ["ok", "\\uDFFF"]}}', "$.a.b[1]"),
        (b'{"\\ud800x": 1}', "$ (a key)"),
        (b'"x\\udc00"', "$"),
    ],
)
def test_a_lone_surrogate_is_found_with_its_path(raw: bytes, path: str) -> None:
    assert may_hold_surrogate(raw)
    assert lone_surrogate_path(json.loads(raw)) == path


@pytest.mark.parametrize(
    "raw",
    [b'{"emoji": "\\ud83d\\ude00"}', '{"emoji": "😀", "é": 1.5}'.encode(), b"[1, null, true]"],
)
def test_valid_unicode_passes(raw: bytes) -> None:
    assert lone_surrogate_path(json.loads(raw)) is None


def test_the_pre_check_skips_text_without_surrogate_escapes() -> None:
    assert not may_hold_surrogate('{"a": "\\u00e9 😀"}'.encode())
