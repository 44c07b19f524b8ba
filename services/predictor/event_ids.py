"""Event ids of a whole batch at once: UUID texts checked, and prediction ids derived, in numpy.

Per record, building uuid.UUID objects and formatting their text cost more than scoring the
record; here a batch's ids are handled as one (N, 36) array of characters.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Sequence

TEXT_LENGTH = 36  # the canonical form: 8-4-4-4-12 hexadecimal digits
_DASHES = (8, 13, 18, 23)
_DIGITS = np.array([i for i in range(TEXT_LENGTH) if i not in _DASHES])
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
# Character -> its hexadecimal value, 255 for anything else (either case is read).
_NIBBLE = np.full(256, 255, dtype=np.uint8)
_NIBBLE[_HEX] = np.arange(16)
_NIBBLE[np.frombuffer(b"ABCDEF", dtype=np.uint8)] = np.arange(10, 16)

Bytes16 = np.ndarray[Any, np.dtype[np.uint8]]  # shape (N, 16)


def parse_uuids(texts: Sequence[str]) -> tuple[Bytes16, np.ndarray[Any, np.dtype[np.bool_]]]:
    """The 16 bytes of each canonical UUID text (either case), and which texts were one.
    Every text must be TEXT_LENGTH characters long (the request decoder checks it)."""
    if not texts:
        return np.empty((0, 16), dtype=np.uint8), np.empty(0, dtype=np.bool_)
    if any(len(text) != TEXT_LENGTH for text in texts):
        raise ValueError(f"UUID texts must be {TEXT_LENGTH} characters long")
    # A non-ASCII character becomes "?", which is not a digit: its row comes out invalid.
    chars = np.frombuffer("".join(texts).encode("ascii", "replace"), dtype=np.uint8)
    chars = chars.reshape(len(texts), TEXT_LENGTH)
    nibbles = _NIBBLE[chars[:, _DIGITS]]
    valid = (nibbles != 255).all(axis=1) & (chars[:, _DASHES] == ord("-")).all(axis=1)
    data = (nibbles[:, 0::2] << 4) | nibbles[:, 1::2]
    return data.astype(np.uint8, copy=False), valid


def derived_ids(ids: Bytes16, mask: bytes) -> list[str]:
    """For each id (16 bytes a row), the id XOR `mask` (16 bytes) laid out as a version-5 UUID,
    as text: distinct per id and mask, and the same every time."""
    derived = ids ^ np.frombuffer(mask, dtype=np.uint8)
    derived[:, 6] = (derived[:, 6] & 0x0F) | 0x50  # version 5
    derived[:, 8] = (derived[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    return _texts(derived)


def _texts(ids: Bytes16) -> list[str]:
    count = len(ids)
    nibbles = np.empty((count, 32), dtype=np.uint8)
    nibbles[:, 0::2], nibbles[:, 1::2] = ids >> 4, ids & 0x0F
    chars = np.full((count, TEXT_LENGTH), ord("-"), dtype=np.uint8)
    chars[:, _DIGITS] = _HEX[nibbles]
    text = chars.tobytes().decode("ascii")
    return [text[start : start + TEXT_LENGTH] for start in range(0, len(text), TEXT_LENGTH)]
