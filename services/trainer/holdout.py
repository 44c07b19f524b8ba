"""Which records are held out, for good: a hash of the record id decides, in every run.

A record's share is a number in [0, 1) fixed by its id alone; it is held out when its share
is below the holdout fraction. No model ever trains on a held-out record, so any two models
(trained with the same fraction, or the champion with a larger one) can be compared on the
holdout records of a run: neither has seen them.

A classifier's split is stratified with the least change to that rule: a class of at least
two records with none held out has its record of smallest share held out too, and one with
all of them held out has its record of largest share trained on. Both depend only on the
snapshot's records, so a run is still replayable. The first kind has a share at or above the
fraction, so champion comparisons (which keep shares below it) never count it; the second is
a record this model trained on that a later run would take for unseen (rare: with fraction
0.2, all n records of a class are held out with probability 0.2**n).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from contracts import HoldoutRows
from services.trainer.run_types import MIN_HOLDOUT, MIN_SNAPSHOT, TrainingError

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    import pandas as pd

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
BoolArray = np.ndarray[Any, np.dtype[np.bool_]]

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


@dataclass(frozen=True)
class Split:
    """A snapshot's rows: those a model may train on, and those held out for good."""

    train: pd.DataFrame
    holdout: pd.DataFrame
    holdout_ids: tuple[str, ...]
    holdout_shares: FloatArray  # each holdout row's share (holdout_share)


def split_holdout(
    frame: pd.DataFrame,
    record_ids: Sequence[str],
    fraction: float,
    labels: Sequence[str] | None = None,
) -> Split:
    """Train and holdout rows of a snapshot frame (rows in `record_ids` order), by record id:
    the same record is on the same side in every run; stratified by `labels` when given."""
    if len(record_ids) != len(frame):
        raise ValueError(f"{len(record_ids)} record ids for {len(frame)} rows")
    shares = np.array([holdout_share(record_id) for record_id in record_ids], dtype=np.float64)
    held = shares < fraction
    if labels is not None:
        held = stratified(held, shares, labels)
    return Split(
        train=frame[~held],
        holdout=frame[held],
        holdout_ids=tuple(r for r, h in zip(record_ids, held, strict=True) if h),
        holdout_shares=shares[held],
    )


def stratified(held: BoolArray, shares: FloatArray, labels: Sequence[str]) -> BoolArray:
    """`held`, changed so every class of two or more records is on both sides (see above)."""
    held = held.copy()
    classes = np.asarray(labels, dtype=object)
    for label in sorted(set(labels)):
        rows = np.flatnonzero(classes == label)
        if rows.size < 2:
            continue
        if not held[rows].any():
            held[rows[np.argmin(shares[rows])]] = True
        elif held[rows].all():
            held[rows[np.argmax(shares[rows])]] = False
    return held


def checked_split(
    frame: pd.DataFrame,
    record_ids: Sequence[str],
    fraction: float,
    labels: Sequence[str] | None = None,
) -> Split:
    """The snapshot's split; TrainingError when either side is too small to be of use."""
    split = split_holdout(frame, record_ids, fraction, labels)
    if len(split.holdout) < MIN_HOLDOUT or len(split.train) < MIN_SNAPSHOT - MIN_HOLDOUT:
        raise TrainingError(
            f"{len(frame)} records split into {len(split.train)} to train on and "
            f"{len(split.holdout)} held out (fraction {fraction:g}); too few to train and score"
        )
    return split
