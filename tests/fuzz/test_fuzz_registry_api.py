"""schemathesis against the registry's OpenAPI document: every operation, with and without
the token, on the registry as a real process (uvicorn, SQLite, the session's broker). Every
answer must be documented (status, content type, headers, body schema) and none a 5xx."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from mlbus.brokers import Broker
from mlbus.runner import Stack, StackConfig
from tests.fuzz.conftest import EXAMPLES, Tally

# Twelve operations take parameters or a body (nine on /models, three on /specs; the other
# five, none: one input each), each run with and without the token.
PER_OPERATION = max(1, -(-EXAMPLES // 24))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
TALLY = Tally()


@pytest.fixture(scope="module")
def registry(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = StackConfig.with_free_ports(
        broker.bootstrap_servers,
        tmp_path_factory.mktemp("registry-fuzz"),
        topic_prefix=f"t{uuid.uuid4().hex[:10]}.",
        extra_env={"MLBUS_REGISTRY_MAX_ARTIFACT_BYTES": str(1024 * 1024)},
    )
    stack = Stack(config)
    stack.log_dir.mkdir(parents=True, exist_ok=True)
    stack.start_service("registry")
    try:
        stack.wait_service_ready("registry", alive=["registry"])
        yield stack
    finally:
        stack.stop()


FUZZ = settings(
    max_examples=PER_OPERATION,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


def _fuzz_every_operation(registry: Stack, headers: dict[str, str]) -> None:
    # Driven by hand rather than by schemathesis's pytest plugin, whose lazy schemas fail on
    # this pytest ('Function' object has no attribute '_nodeid').
    schema = schemathesis.openapi.from_url(registry.config.url("registry") + "/openapi.json")
    session = requests.Session()  # one connection kept alive, not one per input
    for loaded in schema.get_all_operations():
        if isinstance(loaded, Err):
            raise loaded.err()  # the registry's own OpenAPI document has an invalid operation
        operation = loaded.ok()

        @FUZZ
        @given(case=operation.as_strategy())
        def call(case: schemathesis.Case[Any]) -> None:
            response = case.call_and_validate(
                session=session, headers=headers, checks=CHECKS, timeout=30
            )
            TALLY.statuses[response.status_code] += 1

        call()


def test_with_the_token_every_answer_is_documented(registry: Stack) -> None:
    _fuzz_every_operation(registry, {"Authorization": f"Bearer {registry.config.registry_token}"})


def test_without_the_token_every_answer_is_documented(registry: Stack) -> None:
    _fuzz_every_operation(registry, {})


def test_the_registry_took_them_all_and_is_healthy(registry: Stack) -> None:
    print(TALLY.report("registry API (schemathesis)"))
    registry.check_alive(["registry"])
    url = registry.config.url("registry")
    assert httpx.get(url + "/healthz", timeout=5).status_code == 200
    assert httpx.get(url + "/models", timeout=5).status_code == 200
    assert TALLY.statuses.total() >= EXAMPLES
    assert not any(status >= 500 for status in TALLY.statuses)
