"""Three Apache Kafka brokers in KRaft mode on loopback: one replicated cluster for the tests.

Each node is the project's ApacheKafkaBroker (same jars, same start-up and log handling), with
broker and controller roles combined and a quorum of three voters. Topics default to three
replicas and min.insync.replicas=2, so acks=all survives one node down and refuses a write
that only one copy holds.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient

from mlbus.brokers import ApacheKafkaBroker
from mlbus.brokers.apache import new_cluster_id
from mlbus.brokers.probe import group_offsets_error, is_ready, probe_groups
from mlbus.brokers.process import LOCALHOST, free_port

REPLICAS = 3
MIN_IN_SYNC = 2
NOT_COORDINATOR = 16
OFFSETS_PARTITIONS = 8
BROKER_SESSION_MS = 6_000
BROKER_HEARTBEAT_MS = 1_500


def replicated_settings(node_id: int, voters: str) -> dict[str, str]:
    """What a node of the cluster adds to the one-node settings of ApacheKafkaBroker."""
    return {
        "node.id": str(node_id),
        "controller.quorum.voters": voters,
        "default.replication.factor": str(REPLICAS),
        "min.insync.replicas": str(MIN_IN_SYNC),
        "offsets.topic.replication.factor": str(REPLICAS),
        "offsets.topic.num.partitions": str(OFFSETS_PARTITIONS),
        "transaction.state.log.replication.factor": str(REPLICAS),
        "transaction.state.log.min.isr": str(MIN_IN_SYNC),
        "share.coordinator.state.topic.replication.factor": str(REPLICAS),
        "share.coordinator.state.topic.min.isr": str(MIN_IN_SYNC),
        "unclean.leader.election.enable": "false",
        # A node killed outright leads its partitions until the controller fences it, once
        # its session lapses: Kafka's 9 s (2 s heartbeats) set the kill -9 stall to ~9 s.
        "broker.session.timeout.ms": str(BROKER_SESSION_MS),
        "broker.heartbeat.interval.ms": str(BROKER_HEARTBEAT_MS),
    }


class ClusterNode(ApacheKafkaBroker):
    """One node: ready once it serves metadata. Its group coordinators may be on other nodes,
    so the one-node check (every coordinator answers here) is the cluster's, not the node's."""

    start_timeout = 120.0  # a node waits for a quorum; three JVMs start on two shared cores

    def ready(self) -> bool:
        return is_ready(self.host, self.port)

    def kill_hard(self) -> None:
        """kill -9: no controlled shutdown, no flush; the next start recovers its log."""
        pid = self.process.pid
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
        self.process.stop(grace=10)


class KafkaCluster:
    """Three ClusterNodes; `bootstrap_servers` lists all three."""

    def __init__(self, workdir: Path, size: int = REPLICAS, heap: str = "384m") -> None:
        controller_ports = [free_port() for _ in range(size)]
        voters = ",".join(f"{n + 1}@{LOCALHOST}:{port}" for n, port in enumerate(controller_ports))
        cluster_id = new_cluster_id()
        self.nodes = [
            ClusterNode(
                workdir / f"node{n + 1}",
                controller_port=controller_ports[n],
                overrides=replicated_settings(n + 1, voters),
                heap=heap,
                cluster_id=cluster_id,
            )
            for n in range(size)
        ]

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(node.bootstrap_servers for node in self.nodes)

    def node(self, node_id: int) -> ClusterNode:
        return self.nodes[node_id - 1]

    def start(self, timeout: float = 180.0) -> None:
        """Start every node at once (none is ready before a quorum is), then wait for groups."""
        with ThreadPoolExecutor(len(self.nodes)) as pool:
            for started in [pool.submit(node.start) for node in self.nodes]:
                started.result()
        self.wait_groups_ready(timeout)

    def stop(self) -> None:
        with ThreadPoolExecutor(len(self.nodes)) as pool:
            list(pool.map(lambda node: node.stop(), self.nodes))

    def wait_groups_ready(self, timeout: float = 120.0) -> None:
        """Until each __consumer_offsets partition has a coordinator that serves offsets."""
        deadline = time.monotonic() + timeout
        groups = probe_groups(OFFSETS_PARTITIONS)
        while not all(self._coordinated(group) for group in groups):
            if time.monotonic() > deadline:
                raise TimeoutError(f"group coordinators not ready after {timeout:.0f}s")
            time.sleep(0.2)

    def _coordinated(self, group: str) -> bool:
        errors = []
        for node in self.nodes:
            if node.process.running:
                try:
                    errors.append(group_offsets_error(node.host, node.port, group))
                except Exception:
                    errors.append(-1)
        return 0 in errors and all(e in (0, NOT_COORDINATOR) for e in errors)

    def __enter__(self) -> KafkaCluster:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


async def describe(bootstrap_servers: str, topics: list[str] | None = None) -> list[Any]:
    """Metadata of `topics` (None: all, internal ones too): partitions, leaders, replicas, ISR."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        return list(await admin.describe_topics(topics))
    finally:
        await admin.close()


def leaders(described: list[Any]) -> dict[tuple[str, int], int]:
    """(topic, partition) -> the node leading it (-1: none)."""
    return {
        (topic["topic"], part["partition"]): part["leader"]
        for topic in described
        for part in topic["partitions"]
    }


def under_replicated(described: list[Any]) -> list[tuple[str, int]]:
    """Partitions whose in-sync replicas are fewer than their replicas."""
    return [
        (topic["topic"], part["partition"])
        for topic in described
        for part in topic["partitions"]
        if len(part["isr"]) < len(part["replicas"])
    ]


async def wait_fully_replicated(bootstrap_servers: str, timeout: float = 120.0) -> float:
    """Seconds until every partition (internal topics too) has all its replicas in sync."""
    started = time.monotonic()
    lagging: list[tuple[str, int]] = []
    while time.monotonic() - started < timeout:
        try:
            lagging = under_replicated(await describe(bootstrap_servers))
        except Exception as exc:  # a node coming back may refuse metadata for a moment
            lagging = [(f"metadata: {exc}", -1)]
        if not lagging:
            return time.monotonic() - started
        await asyncio.sleep(0.5)
    raise TimeoutError(f"still under-replicated after {timeout:.0f}s: {lagging[:10]}")
