"""Which consumed records the monitor's state already holds: the skip rule of its checkpoints."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

Partition = tuple[str, int]  # topic, partition


class Record(Protocol):
    """What the skip rule needs of a consumed record (aiokafka's ConsumerRecord has it)."""

    @property
    def topic(self) -> str: ...

    @property
    def partition(self) -> int: ...

    @property
    def offset(self) -> int: ...


RecordT = TypeVar("RecordT", bound=Record)


class Positions:
    """The next offset per partition that the state has not taken in yet.

    Kafka hands a record over again after a restart (from the committed offset, which is never
    past the checkpoint's) or after a rebalance gave a partition back: any record below its
    partition's next offset is already counted, so it is skipped.
    """

    def __init__(self, next_offsets: Mapping[Partition, int] | None = None) -> None:
        self._next: dict[Partition, int] = dict(next_offsets or {})

    def admit(self, records: Sequence[RecordT]) -> list[RecordT]:
        """The records the state has not seen, in order; their offsets are now taken."""
        next_offsets = self._next
        admitted = []
        for record in records:
            partition = (record.topic, record.partition)
            if record.offset >= next_offsets.get(partition, 0):
                admitted.append(record)
                next_offsets[partition] = record.offset + 1
        return admitted

    def snapshot(self) -> dict[Partition, int]:
        return dict(self._next)
