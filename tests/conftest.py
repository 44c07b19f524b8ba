"""Session-wide fixtures: one real broker per test session, fresh topics per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import get_args

import pytest

from mlbus.brokers import Broker, BrokerKind, start_broker


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--broker",
        choices=get_args(BrokerKind),
        default="tansu",
        help="real broker for tests that cross a process: embedded tansu or Apache Kafka",
    )


@pytest.fixture(scope="session")
def broker_kind(request: pytest.FixtureRequest) -> BrokerKind:
    # --broker's choices are BrokerKind's values: anything but "kafka" is "tansu".
    return "kafka" if request.config.getoption("--broker") == "kafka" else "tansu"


@pytest.fixture(scope="session")
def broker(broker_kind: BrokerKind, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """The session's one broker; started only if a test asks for it.

    Service processes the tests start inherit the settings `mlbus up` gives this broker's
    clients (tansu: short fetch waits), as they would under `mlbus up`.
    """
    workdir = tmp_path_factory.mktemp(f"broker-{broker_kind}")
    with start_broker(broker_kind, workdir) as running, pytest.MonkeyPatch.context() as patch:
        for name, value in running.client_env().items():
            patch.setenv(name, value)
        yield running


@pytest.fixture
def topic_prefix() -> str:
    """A prefix that gives each test its own topics (and consumer groups)."""
    return f"t{uuid.uuid4().hex[:10]}."


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path
