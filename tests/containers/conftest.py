"""The container tier's session: a Docker engine, the images, and a summary of the timings.

`make test-containers` runs this folder; `make test-fast` leaves it out. The tier takes a lock
of its own, as its Compose stack publishes Kafka on 127.0.0.1:19092 (compose.yaml's port) and
the image tags (mlbus-SERVICE) are the machine's, not the run's.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator

import pytest

from tests.containers.images import (
    SERVICES,
    STOPWATCH,
    Images,
    base_image,
    build_service_image,
    docker_engine,
    stand_in_image,
)

LOCK_PATH = "/tmp/mlbus-container-tier.lock"


@pytest.fixture(scope="session")
def tier_lock() -> Iterator[None]:
    with open(LOCK_PATH, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


@pytest.fixture(scope="session")
def docker(tier_lock: None) -> str:
    with STOPWATCH.time("docker engine ready"):
        return docker_engine()


@pytest.fixture(scope="session")
def images(docker: str) -> Images:
    with STOPWATCH.time("Debian base image"):
        base = base_image(docker)
    stand_ins = {}
    for name in ("kafka", "postgres", "prometheus"):
        with STOPWATCH.time(f"stand-in image {name}"):
            stand_ins[name] = stand_in_image(docker, base, name)
    for service in SERVICES:
        with STOPWATCH.time(f"service image {service}"):
            build_service_image(docker, base, service)
    return Images(docker, base, **stand_ins)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not STOPWATCH.laps:
        return
    terminalreporter.section("container tier: build and run times")
    for name, seconds in STOPWATCH.laps:
        terminalreporter.write_line(f"{name:<40} {seconds:7.1f} s")
    total = sum(seconds for _, seconds in STOPWATCH.laps)
    terminalreporter.write_line(f"{'(timed steps together)':<40} {total:7.1f} s")
