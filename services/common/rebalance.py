"""Commits that never go out under a group generation that is gone.

A subscriber handles a batch, then commits its offsets. Meanwhile the group may rebalance:
aiokafka awaits the listener's `on_partitions_revoked` before it rejoins, and a commit sent
after that is queued behind the JoinGroup and reaches the broker under the old generation.
The broker refuses it (CommitFailedError) and aiokafka forgets its member id: it rejoins as a
new member and the group waits out the old one's session timeout.

`RebalanceGate` orders the two: a revocation waits (a bounded time) for the batch in flight
to finish and commit, runs the service's own last commit (`before_revoke`, e.g. the monitor's
checkpoint), then lets no commit through until partitions are assigned again. A batch taken
under an assignment that has moved since is not committed: its records are consumed again
from the last commit (at-least-once; outputs carry the same event ids).
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiokafka import ConsumerRebalanceListener, TopicPartition

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

log = logging.getLogger(__name__)

# A revocation waits this long at most for the batch in flight: the rest of the group waits
# for this member to rejoin meanwhile (a batch takes well under a second to handle).
REVOKE_DRAIN_SECONDS = 3.0


@dataclass(frozen=True)
class Turn:
    """One batch's pass through the gate: the assignment (`epoch`) it was taken under."""

    gate: RebalanceGate
    epoch: int

    @property
    def current(self) -> bool:
        """Still the assignment the batch was taken under: its offsets may be committed."""
        return self.gate.current(self.epoch)

    async def ack(self, message: Any) -> bool:
        """Acknowledge (commit) the batch `message` if the assignment has not moved; True if
        it was committed. Otherwise its records are consumed again from the last commit."""
        if not self.current:
            self.gate.skipped_commits += 1
            log.info("%s: partitions moved; a batch is consumed again", self.gate.name)
            return False
        await message.ack()
        return True


class RebalanceGate:
    """Lets a subscriber commit only under the assignment its batch was consumed in."""

    def __init__(
        self,
        name: str,
        before_revoke: Callable[[], Awaitable[None]] | None = None,
        drain_seconds: float = REVOKE_DRAIN_SECONDS,
    ) -> None:
        """`name`: for the logs; `before_revoke`: a last commit of the service's own, run once
        the batch in flight is done; `drain_seconds`: the most a revocation waits for both."""
        self.name = name
        self._before_revoke = before_revoke
        self._drain_seconds = drain_seconds
        self._idle = asyncio.Event()
        self._idle.set()
        self._epoch = 0  # bumped at each revocation and assignment
        self._assigned = True  # False from a revocation until the next assignment
        self.skipped_commits = 0

    @property
    def assigned(self) -> bool:
        return self._assigned

    def current(self, epoch: int) -> bool:
        return self._assigned and epoch == self._epoch

    @asynccontextmanager
    async def batch(self) -> AsyncIterator[Turn]:
        """Marks a batch in flight: a revocation waits for it to leave (or for its timeout)."""
        self._idle.clear()
        try:
            yield Turn(self, self._epoch)
        finally:
            self._idle.set()

    def may_commit(self) -> bool:
        """Whether a commit of the current assignment's offsets may go out now."""
        return self._assigned

    async def revoked(self, partitions: set[TopicPartition]) -> None:
        """Finish the batch in flight and the last commit, then commit nothing until assigned."""
        started = time.perf_counter()
        await _wait_bounded(self._idle.wait(), self._drain_seconds)
        if self._before_revoke is not None and self._assigned and partitions:
            left = max(0.0, self._drain_seconds - (time.perf_counter() - started))
            await _wait_bounded(self._before_revoke(), left)
        self._epoch += 1
        self._assigned = False
        log.info(
            "%s: %d partition(s) revoked; in-flight batch finished in %.2f s",
            self.name,
            len(partitions),
            time.perf_counter() - started,
        )

    def assign(self) -> None:
        """Partitions are assigned: batches taken from now on commit as usual."""
        self._epoch += 1
        self._assigned = True


async def _wait_bounded(work: Awaitable[Any], seconds: float) -> None:
    """Await `work` for at most `seconds`; a failure or timeout is logged, not raised (the
    rebalance must go on: whatever was not committed is consumed again)."""
    try:
        await asyncio.wait_for(work, timeout=seconds)
    except Exception as exc:  # TimeoutError included
        log.warning("rebalance: the last work before revocation did not finish: %r", exc)


class CommitOnRebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    """The subscriber's listener: tells the gate when the group moves its partitions."""

    def __init__(self, gate: RebalanceGate) -> None:
        self._gate = gate

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._gate.revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self._gate.assign()
