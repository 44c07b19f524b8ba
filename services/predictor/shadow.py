"""Shadow scoring: the challenger scores a sample of the champion's requests, on the side."""

from __future__ import annotations

import logging
import zlib
from typing import TYPE_CHECKING

from services.predictor.scoring import OFFLOAD_FROM, Result, beside_loop, score_requests

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from services.predictor.model import LoadedModel
    from services.predictor.request_batch import RequestBatch

log = logging.getLogger(__name__)

_SCALE = 10_000


def in_shadow_sample(record_id: str, fraction: float) -> bool:
    """Whether `record_id` is shadow-scored: a stable hash, so every instance picks the same."""
    if fraction >= 1.0:
        return True
    return zlib.crc32(record_id.encode()) % _SCALE < fraction * _SCALE


def shadow_score(
    challenger: LoadedModel, requests: RequestBatch, fraction: float
) -> tuple[list[Result], int]:
    """The challenger's predictions for the sampled requests, and how many it failed; never raises.

    Whatever goes wrong here is the challenger's problem: its rejections are only counted (the
    champion's path dead-letters bad records), and a crash yields no prediction at all.
    """
    sample = requests
    if fraction < 1.0:
        rows = [i for i, e in enumerate(requests.events) if in_shadow_sample(e.record_id, fraction)]
        sample = requests.take(rows)
    if not len(sample):
        return [], 0
    try:
        scored = score_requests(challenger, sample)
    except Exception:
        log.exception("predictor: shadow scoring by %r failed", challenger)
        return [], len(sample)
    return scored.predictions, len(scored.rejections)


async def shadow_score_beside_loop(
    challenger: LoadedModel,
    requests: RequestBatch,
    fraction: float,
    executor: Executor | None = None,
    *,
    offload_from: int = OFFLOAD_FROM,
) -> tuple[list[Result], int]:
    """`shadow_score`, in `executor`'s thread for a large batch, as the champion's inference:
    the challenger's work never holds up the event loop that sends the champion's results."""
    return await beside_loop(
        executor, len(requests), offload_from, shadow_score, challenger, requests, fraction
    )
