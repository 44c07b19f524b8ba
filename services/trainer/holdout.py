"""Which records are held out, for good: a hash of the record id decides, in every run.

A record's share is a number in [0, 1) fixed by its id alone; it is held out when its share
is below the holdout fraction. No model ever trains on a held-out record, so any two models
(trained with the same fraction, or the champion with a larger one) can be compared on the
holdout records of a run: neither has seen them.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from contracts import HoldoutRows

if TYPE_CHECKING:
    from collections.abc import Iterable

# Part of every record's share: changing it would move records between train and holdout.
_SALT = b"mlbus-holdout-v1:"


def holdout_share(record_id: str) -> float:
    """The record's fixed place in [0, 1): held out under any fraction above it."""
    digest = hashlib.sha256(_SALT + record_id.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def is_held_out(record_id: str, fraction: float) -> bool:
    return holdout_share(record_id) < fraction


def holdout_rows(record_ids: Iterable[str]) -> HoldoutRows:
    """Count and fingerprint (sha256 of the sorted ids, one per line) of a set of records."""
    ids = sorted(record_ids)
    digest = hashlib.sha256("\n".join(ids).encode("utf-8", "surrogatepass")).hexdigest()
    return HoldoutRows(count=len(ids), fingerprint=digest)
