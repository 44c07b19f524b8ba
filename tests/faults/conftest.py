"""The fault suite's broker and stack: Apache Kafka with a persistent log (it can restart), and
one stack trained once on it, shared by every fault (each accounts for its own records)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from mlbus.brokers import ApacheKafkaBroker
from mlbus.runner import Stack
from tests.faults.fault_helpers import start_trained_stack


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApacheKafkaBroker]:
    """A broker of the suite's own, whatever --broker says: the faults restart it."""
    with ApacheKafkaBroker(tmp_path_factory.mktemp("fault-kafka")) as running:
        yield running


@pytest.fixture(scope="session")
def trained_stack(
    kafka_broker: ApacheKafkaBroker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """The five services on the suite's broker, with a champion served."""
    stack = start_trained_stack(kafka_broker.bootstrap_servers, tmp_path_factory.mktemp("faults"))
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def registry_client(trained_stack: Stack) -> Iterator[httpx.Client]:
    """An HTTP client of the stack's registry, closed even when the test fails."""
    with httpx.Client(base_url=trained_stack.config.url("registry"), timeout=10) as client:
        yield client
