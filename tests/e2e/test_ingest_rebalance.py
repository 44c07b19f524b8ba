"""An ingest process joining and leaving the group under a steady stream: each record still
ends in exactly one output event, no commit meets a gone generation, and records pause for a
moment, not for a session timeout."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from contracts import Topics
from mlbus.brokers import BrokerKind
from mlbus.datagen import RecordGenerator
from mlbus.runner import Stack, free_port
from tests.support.accounting import read_all, tally
from tests.support.kafka_groups import first_timestamps, wait_stable
from tests.support.paced_stream import Message, PacedStream

# What brokers do differently: on tansu (test-fast) as well as Apache Kafka (test-kafka).
pytestmark = [pytest.mark.e2e, pytest.mark.both_brokers]

RATE = 200  # records/s: steady, well within one ingest's reach on a shared machine
PREFIX = "ireb-"
# A clean rebalance pauses for up to a heartbeat interval plus the join (tansu holds it 5 s);
# a member that rejoins as a new one (a refused commit) adds the old member's session on top.
HEARTBEAT_SECONDS = 3.0
JOIN_HOLD_SECONDS = {"kafka": 0.0, "tansu": 5.0}
MARGIN_SECONDS = 5.0
SETTLE_SECONDS = 3.0  # after the group is Stable again, records still charged to the event
REFUSED = (  # what a commit refused for its generation logs
    "CommitFailedError",
    "OffsetCommit failed",
)


def raw_records() -> Iterator[Message]:
    """Labelled raw records, enough for two minutes at `RATE`."""
    for record in RecordGenerator(seed=11, id_prefix=PREFIX).records(RATE * 120, labelled=True):
        yield record["record_id"], json.dumps(record).encode()


@contextmanager
def second_ingest(stack: Stack) -> Iterator[subprocess.Popen[bytes]]:
    """One more ingest process in the stack's consumer group; killed if still running at the
    end, saying so (with its last log lines): a stop that hangs keeps it in the group."""
    env = {**os.environ, **stack.config.env(), "MLBUS_INGEST_PORT": str(free_port())}
    log_path = stack.log_dir / "ingest-rebalance.log"
    with log_path.open("ab") as log:
        child = subprocess.Popen(
            [sys.executable, "-m", "services.ingest"], env=env, stdout=log, stderr=log
        )
    try:
        yield child
    finally:
        if child.poll() is None:
            tail = log_path.read_text(errors="replace").splitlines()[-20:]
            print("second ingest still running at the end: killed; its log ends:", *tail, sep="\n")
            child.kill()
            child.wait(10)


def refused_commits(stack: Stack) -> list[str]:
    """Log lines of both ingest processes where a commit met a gone generation."""
    lines = []
    for name in ("ingest.log", "ingest-rebalance.log"):
        text = (stack.log_dir / name).read_text(errors="replace")
        lines += [line for line in text.splitlines() if any(map(line.__contains__, REFUSED))]
    return lines


def test_an_ingest_joining_and_leaving_keeps_one_output_per_record(
    stack: Stack, broker_kind: BrokerKind
) -> None:
    topics = Topics.with_prefix(stack.config.topic_prefix)
    bootstrap = stack.config.bootstrap_servers
    group = stack.config.topic_prefix + "mlbus-ingest"  # Settings.group_id
    stream = PacedStream(bootstrap, topics.raw, raw_records(), RATE)
    events: dict[str, tuple[float, float]] = {}  # name -> (began, Stable again), wall ms
    with stream.running(), second_ingest(stack) as second:
        time.sleep(1.0)  # the stream flows before the second process joins
        began = time.time() * 1000
        events["join"] = (began, wait_stable(bootstrap, group, 2))
        time.sleep(SETTLE_SECONDS + 2)
        began = time.time() * 1000
        second.terminate()  # SIGTERM: it leaves the group at once
        events["leave (SIGTERM)"] = (began, wait_stable(bootstrap, group, 1))
        time.sleep(SETTLE_SECONDS + 2)
        assert second.wait(30) in (0, -15)  # a clean stop (uvicorn's, or the signal's)
    sent_at = stream.sent_at
    accepted = asyncio.run(first_timestamps(bootstrap, topics.records, PREFIX, len(sent_at)))
    messages = asyncio.run(read_all(bootstrap, (topics.raw, topics.records, topics.rejected)))
    accounting = tally(messages, topics, record_prefix=PREFIX)
    print(accounting.summary())
    # Exactly one output event per record: duplicates (at-least-once) repeat its event id.
    assert accounting.accepted_training == accounting.received == len(sent_at)
    assert accounting.dead_lettered == 0
    assert accounting.unstable_ids == {}
    longest = {
        name: max(
            accepted[rid] - sent
            for rid, sent in sent_at.items()
            if began <= sent <= stable + SETTLE_SECONDS * 1000
        )
        / 1000
        for name, (began, stable) in events.items()
    }
    print("longest wait per event (s):", {name: round(s, 2) for name, s in longest.items()})
    assert (
        max(longest.values()) < HEARTBEAT_SECONDS + JOIN_HOLD_SECONDS[broker_kind] + MARGIN_SECONDS
    )
    assert refused_commits(stack) == []
