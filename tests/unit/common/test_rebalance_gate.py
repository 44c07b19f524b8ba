"""The rebalance gate: a revocation waits for the batch in flight; stale batches never commit."""

from __future__ import annotations

import asyncio

from aiokafka import TopicPartition

from services.common.rebalance import RebalanceGate

PARTITION = {TopicPartition("t", 0)}


class Message:
    """Stands in for faststream's message: counts its acknowledgements."""

    def __init__(self) -> None:
        self.acks = 0

    async def ack(self) -> None:
        self.acks += 1


async def test_a_revocation_waits_for_the_batch_in_flight_to_commit() -> None:
    gate, message, order = RebalanceGate("test"), Message(), []

    async def handle() -> None:
        async with gate.batch() as turn:
            await asyncio.sleep(0.05)
            order.append("committed" if await turn.ack(message) else "skipped")

    batch = asyncio.create_task(handle())
    await asyncio.sleep(0)
    await gate.revoked(PARTITION)
    order.append("revoked")
    await batch
    assert order == ["committed", "revoked"]
    assert message.acks == 1


async def test_a_batch_taken_before_a_rebalance_is_not_committed_after_it() -> None:
    gate, message = RebalanceGate("test", drain_seconds=0.05), Message()
    async with gate.batch() as turn:
        await gate.revoked(PARTITION)  # the drain gives up on this slow batch
        gate.assign()
        assert not turn.current
        assert not await turn.ack(message)
    assert message.acks == 0
    assert gate.skipped_commits == 1


async def test_no_commit_goes_out_between_revocation_and_assignment() -> None:
    gate = RebalanceGate("test")
    await gate.revoked(PARTITION)
    assert not gate.may_commit()
    async with gate.batch() as turn:
        assert not turn.current
    gate.assign()
    assert gate.may_commit()
    async with gate.batch() as turn:
        assert turn.current


async def test_the_last_commit_runs_before_the_partitions_go() -> None:
    seen = []

    async def last_commit() -> None:
        seen.append(gate.may_commit())

    gate = RebalanceGate("test", before_revoke=last_commit)
    await gate.revoked(PARTITION)
    assert seen == [True]
    assert not gate.may_commit()


async def test_a_first_join_with_nothing_to_revoke_runs_no_last_commit() -> None:
    runs = []

    async def last_commit() -> None:
        runs.append(1)

    gate = RebalanceGate("test", before_revoke=last_commit)
    await gate.revoked(set())
    assert runs == []
