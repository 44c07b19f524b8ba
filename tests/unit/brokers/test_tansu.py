"""The embedded tansu broker: starts fast, serves aiokafka producers, consumers and admins."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlbus.brokers import BrokerStartError, TansuBroker, new_broker, start_broker
from mlbus.brokers.probe import is_ready, metadata_brokers
from tests.support.polling import eventually_sync
from tests.unit.brokers.kafka_roundtrip import committed_total, consume, create_topic, produce

MESSAGES = [b"one", b"two", b"three"]


@pytest.fixture
def tansu(tmp_path: Path) -> Iterator[TansuBroker]:
    with TansuBroker(tmp_path) as broker:
        yield broker


def test_tansu_answers_metadata_with_its_advertised_address(tansu: TansuBroker) -> None:
    host, port = tansu.bootstrap_servers.split(":")
    nodes = metadata_brokers(host, int(port))
    assert [node.address for node in nodes] == [tansu.bootstrap_servers]
    assert tansu.last_start_seconds is not None
    assert tansu.last_start_seconds < 5


async def test_tansu_auto_creates_topics_and_commits_group_offsets(tansu: TansuBroker) -> None:
    await produce(tansu.bootstrap_servers, "auto.created", MESSAGES)

    received = await consume(tansu.bootstrap_servers, "auto.created", "group-a", len(MESSAGES))

    assert sorted(received) == sorted(MESSAGES)
    assert await committed_total(tansu.bootstrap_servers, "auto.created", "group-a") == len(
        MESSAGES
    )


async def test_tansu_creates_topics_with_partitions(tansu: TansuBroker) -> None:
    described = await create_topic(tansu.bootstrap_servers, "made.by.admin", partitions=4)
    assert described == {"made.by.admin": 4}


def test_stop_ends_the_process_and_frees_the_port(tmp_path: Path) -> None:
    broker = start_broker("tansu", tmp_path)
    host, port = broker.bootstrap_servers.split(":")
    broker.stop()
    assert not is_ready(host, int(port), timeout=0.5)
    assert "listening on" in broker.log_path.read_text()


def test_start_fails_with_the_log_when_the_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        broker = new_broker("tansu", tmp_path, port=squatter.getsockname()[1])
        with pytest.raises(BrokerStartError, match="exited"):
            broker.start()


def test_a_broker_does_not_outlive_a_parent_killed_before_stop(tmp_path: Path) -> None:
    parent = subprocess.run(
        [sys.executable, "-c", ORPHANING_PARENT, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert parent.returncode == -signal.SIGKILL, parent.stderr
    broker_pid = int(parent.stdout)
    eventually_sync(
        lambda: process_exists(broker_pid),
        what=f"the orphaned broker (pid {broker_pid}) gone",
        until=lambda exists: not exists,
        timeout=5,
        interval=0.05,
    )


ORPHANING_PARENT = """
import os, signal, sys
from pathlib import Path
from mlbus.brokers import TansuBroker
broker = TansuBroker(Path(sys.argv[1]))
broker.start()
print(broker.process.pid, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def process_exists(pid: int) -> bool:
    """True while `pid` runs (a zombie, already dead but not yet reaped, counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False
