"""`mlbus publish`: rows in as raw records, with a progress bar, a rate limit and a summary.

The summary reads ingest's outputs from where they ended before the publish: dead-letter events
name the raw partition and offset of their message, accepted events the record id.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from contracts import DatasetSpec, RejectionReason, Topics
from contracts.normalise import Invalid, normalise_fields, record_id_text
from contracts.text import lone_surrogate_path, may_hold_surrogate
from mlbus.bus import dataset_headers, encode, producer
from services.common.offsets import log_end_offsets

if TYPE_CHECKING:
    from collections.abc import Iterable

Position = tuple[int, int]


class ProgressBar:
    """`[#####.....] 1,000/5,000 20% 950 rec/s` on one line of `out` (stderr)."""

    def __init__(self, total: int, out: TextIO = sys.stderr, width: int = 30) -> None:
        self.total = max(total, 0)
        self.out = out
        self.width = width
        self.started = time.monotonic()
        self._last_draw = 0.0

    def update(self, done: int, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_draw < 0.1:
            return
        self._last_draw = now
        fraction = done / self.total if self.total else 1.0
        filled = int(self.width * min(fraction, 1.0))
        rate = done / max(now - self.started, 1e-9)
        bar = "#" * filled + "." * (self.width - filled)
        line = f"\r[{bar}] {done:,}/{self.total:,} {fraction:4.0%} {rate:,.0f} rec/s"
        self.out.write(line)
        self.out.flush()

    def close(self, done: int) -> None:
        self.update(done, force=True)
        self.out.write("\n")
        self.out.flush()


@dataclass
class Published:
    """What was sent: each record's raw position, and the id ingest will give it."""

    positions: list[Position] = field(default_factory=list)
    record_ids: list[str] = field(default_factory=list)


def record_id_of(row: dict[str, Any], spec: DatasetSpec) -> str:
    """The id ingest routes `row` under: its id field's text (rows get one before they are
    published, see datafiles.with_record_ids)."""
    value = row.get(spec.record_id_field)
    return "" if value is None else str(value)


def unicode_row(row: dict[str, Any], number: int) -> bytes:
    """The JSON of row `number` of a file; ValueError when it holds text that is not Unicode
    (a lone surrogate, which no consumer could encode): refused here, before it is sent."""
    body = encode(row)
    if may_hold_surrogate(body) and (path := lone_surrogate_path(row)) is not None:
        raise ValueError(
            f"row {number}: the text at {path} is not valid Unicode (a lone surrogate);"
            " fix the file and publish again (rows before it were published)"
        )
    return body


async def publish_rows(
    bootstrap: str,
    topic: str,
    rows: Iterable[dict[str, Any]],
    spec: DatasetSpec,
    *,
    rate: float | None = None,
    progress: ProgressBar | None = None,
    dataset: str | None = None,
) -> Published:
    """Send every row (at most `rate` per second), wait for all acks, note their positions.

    Each message names `dataset` in its header (None: none, for ingest's default data set).
    """
    published = Published()
    headers = dataset_headers(dataset)
    started = time.monotonic()
    async with producer(bootstrap) as client:
        pending: list[asyncio.Future[Any]] = []
        for sent, row in enumerate(rows, start=1):
            body = unicode_row(row, sent)
            record_id = record_id_of(row, spec)
            published.record_ids.append(record_id)
            pending.append(await client.send(topic, body, key=record_id.encode(), headers=headers))
            if rate:
                ahead = sent / rate - (time.monotonic() - started)
                if ahead > 0:
                    await asyncio.sleep(ahead)
            if len(pending) >= (max(1, int(rate / 10)) if rate else 1000):
                await _acknowledged(pending, published, progress)
        await _acknowledged(pending, published, progress)
    if progress is not None:
        progress.close(len(published.positions))
    return published


async def _acknowledged(
    pending: list[asyncio.Future[Any]], published: Published, progress: ProgressBar | None
) -> None:
    for metadata in await asyncio.gather(*pending):
        published.positions.append((metadata.partition, metadata.offset))
    pending.clear()
    if progress is not None:
        progress.update(len(published.positions))


@dataclass
class Summary:
    published: int
    training: int = 0
    prediction: int = 0
    rejected: int = 0
    duplicate: int = 0
    reasons: Counter[str] = field(default_factory=Counter)

    @property
    def accepted(self) -> int:
        return self.training + self.prediction

    @property
    def unaccounted(self) -> int:
        return self.published - self.accepted - self.rejected - self.duplicate

    def render(self) -> str:
        lines = [
            f"accepted {self.accepted:,} (training {self.training:,}, prediction"
            f" {self.prediction:,}), rejected {self.rejected:,}, duplicate {self.duplicate:,}"
        ]
        if self.unaccounted:
            lines.append(f"not yet accounted for by ingest: {self.unaccounted:,}")
        for reason, count in self.reasons.most_common(5):
            lines.append(f"  {count:>8,}  {reason}")
        return "\n".join(lines)


@dataclass
class Checked:
    """`mlbus publish --check`: what ingest would make of each row, without sending any."""

    labelled: int = 0
    unlabelled: int = 0
    rejected: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    def render(self) -> str:
        lines = [
            f"checked {self.labelled + self.unlabelled + self.rejected:,} rows: would accept"
            f" {self.labelled + self.unlabelled:,} (training {self.labelled:,}, prediction"
            f" {self.unlabelled:,}), would reject {self.rejected:,}; nothing was sent"
        ]
        lines += [f"  {count:>8,}  {reason}" for reason, count in self.reasons.most_common(5)]
        lines += [f"  {example}" for example in self.examples]
        return "\n".join(lines)


def check_rows(rows: Iterable[dict[str, Any]], spec: DatasetSpec, examples: int = 3) -> Checked:
    """Each row through ingest's normaliser (contracts.normalise), as ingest will see it."""
    checked = Checked()
    for number, row in enumerate(rows, start=1):
        fields = normalise_fields(row, spec)
        reasons = [*_id_reasons(row, spec), *fields.reasons]
        if reasons:
            checked.rejected += 1
            checked.reasons.update(f"{r.field}: {r.rule}" for r in reasons)
            if len(checked.examples) < examples:
                why = "; ".join(f"{r.field}: {r.message}" for r in reasons)
                checked.examples.append(f"row {number}: {why}")
        elif fields.target is None:
            checked.unlabelled += 1
        else:
            checked.labelled += 1
    return checked


def _id_reasons(row: dict[str, Any], spec: DatasetSpec) -> list[RejectionReason]:
    try:
        record_id_text(row.get(spec.record_id_field))
    except Invalid as exc:
        return [RejectionReason(field=spec.record_id_field, rule=exc.rule, message=exc.message)]
    return []


async def output_offsets(bootstrap: str, topics: Topics) -> dict[TopicPartition, int]:
    """Where ingest's three output topics end now: the summary reads from there."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        return await log_end_offsets(consumer, await _partitions(bootstrap, topics))
    finally:
        await consumer.stop()


async def _partitions(bootstrap: str, topics: Topics) -> list[TopicPartition]:
    names = (topics.records, topics.predict_requests, topics.rejected)
    return await topic_partitions(bootstrap, names)


async def topic_partitions(bootstrap: str, names: Iterable[str]) -> list[TopicPartition]:
    """Every partition of the named topics, from the cluster's metadata.

    (AIOKafkaConsumer.topics() fetches metadata without keeping it, so a consumer that was
    never subscribed may not know a topic's partitions: the admin client asks directly.)
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(list(names))
    finally:
        await admin.close()
    return [
        TopicPartition(topic["topic"], partition["partition"])
        for topic in described
        for partition in topic["partitions"]
    ]


async def summarise(
    bootstrap: str,
    topics: Topics,
    published: Published,
    since: dict[TopicPartition, int],
    *,
    wait: float,
    idle: float = 10.0,
) -> Summary:
    """Read ingest's outputs for the published records until all are accounted for.

    Gives up after `wait` seconds, or after `idle` seconds without any output at all.
    """
    summary = Summary(published=len(published.positions))
    positions = set(published.positions)
    expected_ids = Counter(published.record_ids)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = await _partitions(bootstrap, topics)
        consumer.assign(partitions)
        for tp in partitions:
            consumer.seek(tp, since.get(tp, 0))
        started = last_output = time.monotonic()
        while summary.unaccounted > 0:
            now = time.monotonic()
            if now - started > wait or now - last_output > idle:
                break
            for tp, messages in (await consumer.getmany(timeout_ms=300)).items():
                for message in messages:
                    event = json.loads(message.value) if message.value else {}
                    if _count(event, tp.topic, topics, positions, expected_ids, summary):
                        last_output = time.monotonic()
    finally:
        await consumer.stop()
    return summary


def _count(
    event: dict[str, Any],
    topic: str,
    topics: Topics,
    positions: set[Position],
    expected_ids: Counter[str],
    summary: Summary,
) -> bool:
    """Count `event` if it is about a published record; whether it was."""
    if topic == topics.rejected:
        position = (event.get("partition"), event.get("offset"))
        if event.get("source") != topics.raw or position not in positions:
            return False
        positions.discard(position)
        rules = [r.get("rule") for r in event.get("reasons", ())]
        if rules == ["duplicate"]:
            summary.duplicate += 1
        else:
            summary.rejected += 1
            summary.reasons.update(f"{r.get('field')}: {r.get('rule')}" for r in event["reasons"])
        return True
    record_id = event.get("record_id")
    if not isinstance(record_id, str) or expected_ids[record_id] <= 0:
        return False
    expected_ids[record_id] -= 1
    if topic == topics.records:
        summary.training += 1
    else:
        summary.prediction += 1
    return True
