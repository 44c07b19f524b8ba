"""The e2e tier's one stack: the five services as processes on the session's broker.

A module asks for `stack` and gets its own stack on topics of its own, started once for the
module and checked alive at its end (no service may have died during the tests). A module
that needs other service settings overrides `stack_env`; one that needs more (a spec file)
overrides `stack_config`, requesting this one.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from mlbus.brokers import Broker
from mlbus.runner import Stack, StackConfig

# A shared, busy host can take minutes (the trainer imports slowly); a healthy start takes
# seconds. Below pytest's 300 s per test (setup included), so that a start too slow fails
# with the services' logs and leaves the module's other fixtures time to run.
READY_TIMEOUT = 180.0


@pytest.fixture(scope="module")
def stack_env() -> dict[str, str]:
    """Extra service settings for the module's stack, e.g. the trainer's thresholds."""
    return {}


@pytest.fixture(scope="module")
def stack_config(
    broker: Broker,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
    stack_env: dict[str, str],
) -> StackConfig:
    module = request.module.__name__.rpartition(".")[2]
    return StackConfig.with_free_ports(
        broker.bootstrap_servers,
        tmp_path_factory.mktemp(module),
        topic_prefix=f"t{uuid.uuid4().hex[:10]}.",
        extra_env=stack_env,
    )


@pytest.fixture(scope="module")
def stack(stack_config: StackConfig) -> Iterator[Stack]:
    with Stack(stack_config) as running:
        running.wait_ready(timeout=READY_TIMEOUT)
        yield running
        running.check_alive()
