"""Text that every boundary refuses: JSON can carry escapes that are not Unicode."""

from __future__ import annotations

import re
from collections.abc import Mapping

# JSON's \uXXXX escapes can spell a lone surrogate (b'"\\ud800"'). The stdlib decoder accepts
# it, and the text then fails to encode as UTF-8 wherever it goes next. Raw UTF-8 bytes cannot
# hold a surrogate (strict decoding refuses them), so only a surrogate escape needs a closer look.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def may_hold_surrogate(raw: bytes) -> bool:
    """Whether the JSON bytes `raw` have a surrogate escape, paired or not (cheap pre-check)."""
    return _SURROGATE_ESCAPE.search(raw) is not None


def lone_surrogate_path(value: object, path: str = "$") -> str | None:
    """Where decoded JSON `value` holds text that is not valid Unicode (keys too), or None.

    Decoders join a valid surrogate pair into one character, so any surrogate left in a decoded
    string is a lone one.
    """
    if isinstance(value, str):
        return path if _SURROGATE.search(value) else None
    if isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str) and _SURROGATE.search(key):
                return f"{path} (a key)"
            found = lone_surrogate_path(item, f"{path}.{key}")
            if found is not None:
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = lone_surrogate_path(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None
