"""Where a partition's log really ends, on every broker.

Kafka's ListOffsets answers the log end offset: one past the last record. The embedded tansu
broker answers one past the *first* record of the last batch instead (6, not 26, after batches
of 5 and 21). Whatever a broker answers is a position inside or at the end of its last batch,
so reading from one before it to the end of that batch gives the true end on both.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

    from aiokafka import AIOKafkaConsumer, TopicPartition

# Read back past the reported end for at most this long (a fetch that finds the last record
# answers at once; nothing comes back only if that record is gone, e.g. a control batch).
TAIL_READ_SECONDS = 5.0


async def log_end_offsets(
    consumer: AIOKafkaConsumer,
    partitions: Iterable[TopicPartition],
    *,
    timeout: float = TAIL_READ_SECONDS,
) -> dict[TopicPartition, int]:
    """One past the last record of each partition now (0 when empty).

    `consumer` must be started and not subscribed: this assigns it the non-empty partitions
    and moves their positions, so callers assign and seek what they read afterwards.
    """
    ends: dict[TopicPartition, int] = dict(await consumer.end_offsets(list(partitions)))
    tails = [tp for tp, end in ends.items() if end > 0]
    if not tails:
        return ends
    consumer.assign(tails)
    for tp in tails:
        consumer.seek(tp, ends[tp] - 1)
    pending, deadline = set(tails), time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        fetched = await consumer.getmany(*pending, timeout_ms=100)
        for tp, records in fetched.items():
            if records:
                ends[tp] = max(ends[tp], records[-1].offset + 1)
                pending.discard(tp)
    return ends
