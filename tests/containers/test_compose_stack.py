"""`docker compose up` of the real compose.yaml, proven on a Docker engine here.

The five services are built from the project's Dockerfile on a Debian base made here; Kafka,
PostgreSQL and Prometheus are stand-ins built from the same software (compose.test.yaml);
Grafana is left out. The test talks to the stack only through its 127.0.0.1 ports: data in
with `mlbus publish` on Kafka's host listener, a champion from the registry, a prediction for
every unlabelled row, Prometheus's view of the five services, and a clean `docker stop`.
"""

from __future__ import annotations

import asyncio
import csv
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from contracts import Topics
from mlbus.bus import read_topic
from mlbus.datagen import Record, RecordGenerator
from mlbus.demo import wait_for_champion
from tests.containers.images import SERVICES, STOPWATCH, Images
from tests.containers.stack import KAFKA_FROM_THE_HOST, SECRETS, Stack
from tests.support.polling import eventually_sync

# A cold first run builds every image inside the first test that needs the stack.
pytestmark = pytest.mark.timeout(2400)

SERVICE_USER_ID = "10001"  # the Dockerfile's `mlbus` user
DOCKER_STOP_GRACE = 10  # seconds: `docker stop`'s default, and compose.yaml sets none longer


LOGS = Path("/tmp/mlbus-container-tier")  # not under pytest's basetemp: others' runs prune it
FAILED_UP: list[str] = []


@pytest.fixture(scope="module")
def stack(images: Images) -> Iterator[Stack]:
    if FAILED_UP:  # pytest sets a failed module fixture up again for every test: once is enough
        pytest.fail(f"the stack did not come up (see the first error): {FAILED_UP[0]}")
    stand_ins = {"kafka": images.kafka, "postgres": images.postgres}
    stack = Stack(images.docker, {**stand_ins, "prometheus": images.prometheus})
    LOGS.mkdir(exist_ok=True)
    logs = LOGS / f"{stack.project}.log"
    try:
        with STOPWATCH.time("compose up until every healthcheck passes"):
            try:
                stack.compose("up", "--detach", "--no-build", timeout=600)
                stack.wait_healthy(timeout=300)
            except Exception:
                FAILED_UP.append(f"logs in {logs}")
                raise
        yield stack
    finally:
        logs.write_text(stack.logs())
        print(f"compose logs of {stack.project}: {logs}")
        with STOPWATCH.time("compose down -v"):
            stack.compose("down", "--volumes", "--remove-orphans", "--timeout", "20", timeout=300)
    assert stack.leftovers() == [], "compose down -v left parts of the project behind"


@pytest.mark.parametrize("secret", SECRETS)
def test_compose_refuses_to_start_without_the_secret(docker: str, secret: str) -> None:
    stack = Stack(docker, {"kafka": "unused", "postgres": "unused", "prometheus": "unused"})
    try:
        result = stack.compose("up", "--no-start", "--no-build", without=secret, check=False)
        assert result.returncode != 0
        assert f"set {secret}" in result.stderr
        assert stack.leftovers() == []
    finally:
        stack.compose("down", "--volumes", without=None, check=False)


def test_every_container_is_healthy_on_the_project_network_and_published_on_loopback(
    stack: Stack,
) -> None:
    containers = {c["Service"]: c for c in stack.containers()}
    assert set(containers) == {*SERVICES, "kafka", "kafka-topics", "postgres", "prometheus"}
    for name in (*SERVICES, "kafka", "postgres"):
        assert containers[name]["Health"] == "healthy", name
    for name, container in containers.items():
        details = stack.inspect(container["ID"])
        assert set(details["NetworkSettings"]["Networks"]) == {f"{stack.project}_default"}, name
        for bindings in (details["HostConfig"]["PortBindings"] or {}).values():
            assert {b["HostIp"] for b in bindings} == {"127.0.0.1"}, name


def test_every_service_runs_as_its_non_root_user(stack: Stack) -> None:
    for service in SERVICES:
        container = stack.container_id(service)
        status = _exec(stack, container, "cat", "/proc/1/status")
        uids = next(line.split()[1:] for line in status.splitlines() if line.startswith("Uid:"))
        assert set(uids) == {SERVICE_USER_ID}, f"{service}'s PID 1 runs as {uids}"
        assert _exec(stack, container, "id", "-un").strip() == "mlbus"
    for stand_in in ("kafka", "postgres", "prometheus"):  # not root either
        assert _exec(stack, stack.container_id(stand_in), "id", "-u").strip() != "0"


def test_published_rows_get_a_champion_and_a_prediction_for_every_unlabelled_row(
    stack: Stack, tmp_path: Path
) -> None:
    labelled = RecordGenerator(seed=7, id_prefix="train")
    with STOPWATCH.time("publish 800 labelled rows, until a champion"):
        _publish(list(labelled.records(800)), tmp_path / "labelled.csv")
        champion = asyncio.run(
            wait_for_champion(stack.url("registry"), labelled.spec.name, timeout=300)
        )
    unlabelled = list(RecordGenerator(seed=11, id_prefix="live").records(200, labelled=False))
    expected = {str(r[labelled.spec.record_id_field]) for r in unlabelled}
    with STOPWATCH.time("publish 200 unlabelled rows, until scored"):
        _publish(unlabelled, tmp_path / "unlabelled.csv")
        predictions = asyncio.run(
            read_topic(
                KAFKA_FROM_THE_HOST,
                Topics().predict_results,
                until=lambda got: expected <= {p["record_id"] for p in got},
                timeout=180,
            )
        )
    scored = [p for p in predictions if p["record_id"] in expected]
    assert {p["record_id"] for p in scored} == expected
    assert {p["model_version"] for p in scored} == {champion["version"]}


def test_prometheus_scrapes_all_five_services(stack: Stack) -> None:
    def health() -> dict[str, str | None]:
        targets = httpx.get(f"{stack.url('prometheus')}/api/v1/targets", timeout=5).json()
        found = {t["labels"]["job"]: t["health"] for t in targets["data"]["activeTargets"]}
        return {service: found.get(service) for service in SERVICES}

    eventually_sync(
        health,
        what="Prometheus scraping all five services",
        until=lambda seen: seen == dict.fromkeys(SERVICES, "up"),
        timeout=60,
        interval=2,
    )


def test_docker_stop_stops_each_service_cleanly_within_the_grace_period(stack: Stack) -> None:
    for service in SERVICES:
        container = stack.container_id(service)
        since = stack.inspect(container)["State"]["StartedAt"]
        started = time.monotonic()
        subprocess.run([stack.docker, "stop", container], capture_output=True, check=True)
        seconds = time.monotonic() - started
        state: dict[str, Any] = stack.inspect(container)["State"]
        assert state["ExitCode"] == 0, f"{service} exited {state['ExitCode']} on SIGTERM"
        assert seconds < DOCKER_STOP_GRACE, f"{service} took {seconds:.1f}s: killed, not stopped"
        logs = subprocess.run(
            [stack.docker, "logs", "--since", since, container],
            capture_output=True,
            text=True,
            check=True,
        )
        assert "Traceback" not in logs.stdout + logs.stderr, f"{service} logged a traceback"


def _exec(stack: Stack, container: str, *argv: str) -> str:
    result = subprocess.run(
        [stack.docker, "exec", container, *argv], capture_output=True, text=True, check=True
    )
    return result.stdout


def _publish(records: list[Record], path: Path) -> None:
    """`mlbus publish` on the host, into the stack through Kafka's published 127.0.0.1 port."""
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)
    argv = [sys.executable, "-m", "mlbus", "publish", str(path), "--bootstrap", KAFKA_FROM_THE_HOST]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"{len(records)} records" in result.stdout
