"""The cluster tier: three Apache Kafka brokers (RF 3, min.insync.replicas=2) and one trained
stack on them whose producers send with acks=all and idempotence."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mlbus.runner import Stack
from tests.cluster.kafka_cluster import REPLICAS, KafkaCluster
from tests.faults.fault_helpers import start_trained_stack

# What a stack on a replicated cluster runs with: a send counts once two copies hold it
# (min.insync.replicas), and a retry after a leader change writes no second copy.
CLUSTER_ENV = {"MLBUS_KAFKA_PRODUCER_ACKS": "all", "MLBUS_KAFKA_PRODUCER_IDEMPOTENCE": "true"}


@pytest.fixture(scope="session")
def kafka_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    with KafkaCluster(tmp_path_factory.mktemp("kafka-cluster")) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def cluster_stack(
    kafka_cluster: KafkaCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    stack = start_trained_stack(
        kafka_cluster.bootstrap_servers,
        tmp_path_factory.mktemp("cluster-stack"),
        extra_env=CLUSTER_ENV,
        replication_factor=REPLICAS,
    )
    try:
        yield stack
    finally:
        stack.stop()
