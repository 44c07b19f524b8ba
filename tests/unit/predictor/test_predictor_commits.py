"""The commit pipeline: offsets committed in batch order, only after the batch's acks."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from services.predictor.commits import CommitPipeline, PendingBatch, partition_spans

P0, P1 = TopicPartition("requests", 0), TopicPartition("requests", 1)


class FakeConsumer:
    """Records what the pipeline asks of the consumer."""

    def __init__(self) -> None:
        self.commits: list[dict[TopicPartition, int]] = []
        self.seeks: list[tuple[TopicPartition, int]] = []

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(dict(offsets))

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self.seeks.append((partition, offset))


def records(*where: tuple[int, int]) -> list[ConsumerRecord[Any, Any]]:
    """Consumed records at (partition, offset)."""
    return [ConsumerRecord("requests", p, o, 0, 0, None, b"", None, 0, 0, []) for p, o in where]


def acks(count: int) -> list[asyncio.Future[Any]]:
    loop = asyncio.get_running_loop()
    return [loop.create_future() for _ in range(count)]


def batch(consumer: FakeConsumer, sends: list[asyncio.Future[Any]], *where: tuple[int, int]) -> Any:
    return PendingBatch.of(cast(AIOKafkaConsumer, consumer), records(*where), sends)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_batch_is_committed_only_once_every_send_is_acknowledged() -> None:
    consumer, pipeline = FakeConsumer(), CommitPipeline(depth=4)
    first, second = acks(2), acks(1)
    await pipeline.submit(batch(consumer, first, (0, 10), (1, 3), (0, 11)))
    await pipeline.submit(batch(consumer, second, (0, 12)))
    second[0].set_result(None)  # the later batch is acknowledged first
    first[0].set_result(None)
    await settle()
    assert consumer.commits == []  # one ack of the first batch is still missing
    first[1].set_result(None)
    await pipeline.drain(timeout_seconds=1)
    assert consumer.commits == [{P0: 12, P1: 4}, {P0: 13}]  # in batch order, next offsets
    await pipeline.close()


async def test_a_failed_batch_is_rewound_and_batches_read_past_it_are_not_committed() -> None:
    rewound: list[int] = []
    consumer, pipeline = FakeConsumer(), CommitPipeline(depth=4, on_rewound=rewound.append)
    failed, ahead, again = acks(1), acks(2), acks(1)
    await pipeline.submit(batch(consumer, failed, (0, 20), (1, 7)))
    await pipeline.submit(batch(consumer, ahead, (0, 21), (1, 8)))  # read before the rewind
    failed[0].set_exception(ConnectionError("broker gone"))
    for send in ahead:
        send.set_result(None)
    await pipeline.submit(batch(consumer, again, (0, 20), (1, 7), (1, 8)))  # read again
    again[0].set_result(None)
    await pipeline.drain(timeout_seconds=1)
    assert consumer.seeks == [(P0, 20), (P1, 7)]
    assert consumer.commits == [{P0: 21, P1: 9}]  # only the batch read after the rewind
    assert pipeline.failed_batches == 1
    assert rewound == [2]  # its two records are delivered again
    await pipeline.close()


async def test_submit_waits_while_depth_batches_are_unacknowledged() -> None:
    consumer, pipeline = FakeConsumer(), CommitPipeline(depth=1)
    first, second, third = acks(1), acks(1), acks(1)
    await pipeline.submit(batch(consumer, first, (0, 0)))  # taken by the committer
    await settle()
    await pipeline.submit(batch(consumer, second, (0, 1)))  # fills the queue
    blocked = asyncio.create_task(pipeline.submit(batch(consumer, third, (0, 2))))
    await settle()
    assert not blocked.done()  # back-pressure: the scorer waits for acks
    first[0].set_result(None)
    await asyncio.wait_for(blocked, 1)
    for send in (*second, *third):
        send.set_result(None)
    await pipeline.drain(timeout_seconds=1)
    assert [c[P0] for c in consumer.commits] == [1, 2, 3]
    await pipeline.close()


async def test_a_commit_refused_after_a_rebalance_does_not_stop_the_pipeline() -> None:
    class Revoked(FakeConsumer):
        async def commit(self, offsets: dict[TopicPartition, int]) -> None:
            if not self.commits and P1 in offsets:
                self.commits.append({})
                raise RuntimeError("partition was revoked")
            await super().commit(offsets)

    consumer, pipeline = Revoked(), CommitPipeline(depth=4)
    for where in ((1, 5), (0, 6)):
        sends = acks(1)
        sends[0].set_result(None)
        await pipeline.submit(batch(consumer, sends, where))
    await pipeline.drain(timeout_seconds=1)
    assert consumer.commits == [{}, {P0: 7}]
    await pipeline.close()


def test_partition_spans_are_the_first_and_last_offsets_of_each_partition() -> None:
    interleaved = records((0, 10), (1, 3), (0, 11), (1, 4), (0, 12))
    assert partition_spans(interleaved) == {P0: (10, 12), P1: (3, 4)}
    other = ConsumerRecord("other", 0, 7, 0, 0, None, b"", None, 0, 0, [])
    assert partition_spans([*interleaved, other]) == {
        P0: (10, 12),
        P1: (3, 4),
        TopicPartition("other", 0): (7, 7),
    }
    assert partition_spans([]) == {}


async def test_batches_acknowledged_within_the_interval_share_one_later_commit() -> None:
    consumer = FakeConsumer()
    pipeline = CommitPipeline(depth=4, commit_interval_seconds=0.2)
    for where in ((0, 0), (1, 0), (0, 1)):
        sends = acks(1)
        sends[0].set_result(None)
        await pipeline.submit(batch(consumer, sends, where))
    await settle()
    assert consumer.commits == [{P0: 1}]  # the first at once, the next two wait their turn
    await asyncio.sleep(0.3)
    assert consumer.commits == [{P0: 1}, {P0: 2, P1: 1}]  # merged: each partition's latest
    await pipeline.close()


async def test_drain_commits_at_once_what_waits_for_its_interval() -> None:
    consumer = FakeConsumer()
    pipeline = CommitPipeline(depth=4, commit_interval_seconds=60)
    for where in ((0, 0), (0, 1)):
        sends = acks(1)
        sends[0].set_result(None)
        await pipeline.submit(batch(consumer, sends, where))
    await pipeline.drain(timeout_seconds=1)
    assert consumer.commits == [{P0: 1}, {P0: 2}]  # a clean stop leaves nothing to redeliver
    await pipeline.close()
    assert len(consumer.commits) == 2  # nothing more was due


async def test_batches_of_a_revoked_assignment_are_dropped_and_none_commits_until_assigned() -> (
    None
):
    rewound: list[int] = []
    consumer, pipeline = FakeConsumer(), CommitPipeline(depth=4, on_rewound=rewound.append)
    before = acks(1)
    old = PendingBatch.of(cast(AIOKafkaConsumer, consumer), records((0, 5), (0, 6)), before)
    pipeline.revoke()  # the group rebalances while the batch awaits its ack
    during = acks(1)
    joining = PendingBatch.of(
        cast(AIOKafkaConsumer, consumer), records((1, 9)), during, pipeline.epoch
    )
    await pipeline.submit(old)
    await pipeline.submit(joining)
    before[0].set_result(None)
    during[0].set_result(None)
    await pipeline.drain(timeout_seconds=1)
    assert consumer.commits == []  # nothing goes out between revocation and assignment
    assert rewound == [2, 1]  # both batches' records are consumed again
    pipeline.assign()
    after = acks(1)
    fresh = PendingBatch.of(
        cast(AIOKafkaConsumer, consumer), records((1, 9)), after, pipeline.epoch
    )
    await pipeline.submit(fresh)
    after[0].set_result(None)
    await pipeline.drain(timeout_seconds=1)
    assert consumer.commits == [{P1: 10}]  # the new assignment commits as usual
    assert pipeline.dropped_batches == 2
    await pipeline.close()


async def test_a_revocation_forgets_the_offsets_still_waiting_for_their_interval() -> None:
    consumer = FakeConsumer()
    pipeline = CommitPipeline(depth=4, commit_interval_seconds=0.2)
    for where in ((0, 0), (0, 1)):
        sends = acks(1)
        sends[0].set_result(None)
        await pipeline.submit(batch(consumer, sends, where))
    await settle()
    pipeline.revoke()  # the second batch's offset waited for the interval: not sent any more
    await asyncio.sleep(0.3)
    assert consumer.commits == [{P0: 1}]
    await pipeline.close()
