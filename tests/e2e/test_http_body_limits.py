"""Body limits on the real services, as processes: a client streams 200 MiB at each body
route and the refusal (413, or 401 for an upload without the token) arrives long before the
body is sent, while the server's peak memory stays within MEMORY_BOUND of where it was."""

from __future__ import annotations

import select
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from mlbus.brokers import Broker
from mlbus.runner import Stack, StackConfig
from tests.support.polling import eventually_sync

pytestmark = pytest.mark.e2e
TOTAL = 200 * 1024 * 1024
CHUNK = 64 * 1024
MEMORY_BOUND = 64 * 1024 * 1024  # the stated bound on a refused request's peak memory
LIMIT = 8 * 1024 * 1024  # the ingest and predictor default (MLBUS_*_HTTP_MAX_BODY_BYTES)


@pytest.fixture(scope="module")
def stack(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = StackConfig.with_free_ports(
        broker.bootstrap_servers,
        tmp_path_factory.mktemp("body-limits"),
        topic_prefix=f"t{uuid.uuid4().hex[:10]}.",
    )
    stack = Stack(config)
    stack.log_dir.mkdir(parents=True, exist_ok=True)
    services = ("ingest", "registry", "predictor")
    for name in services:
        stack.start_service(name)
    try:
        for name in services:
            _wait_healthy(stack, name)
        yield stack
    finally:
        stack.stop()


@dataclass(frozen=True)
class Refusal:
    status: int
    bytes_sent: int
    peak_growth: int  # the server's VmHWM after, minus its VmRSS before


def _wait_healthy(stack: Stack, name: str, timeout: float = 60.0) -> None:
    def health() -> int:
        stack.check_alive([name])
        return httpx.get(stack.config.url(name) + "/healthz", timeout=2).status_code

    eventually_sync(
        health,
        what=f"{name} healthy",
        until=lambda status: status == 200,
        timeout=timeout,
        ignoring=(httpx.HTTPError,),
        context=lambda: stack.log_tail(name),
    )


def _memory(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"{field} not in /proc/{pid}/status")


def _stream(stack: Stack, name: str, path: str, headers: dict[str, str]) -> Refusal:
    """POST up to TOTAL bytes in CHUNK pieces until the server answers; what it answered."""
    pid = stack.processes[name].pid
    before = _memory(pid, "VmRSS")
    port = int(stack.config.url(name).rsplit(":", 1)[1])
    chunked = "Content-Length" not in headers
    head = [f"POST {path} HTTP/1.1", "Host: localhost", *(f"{k}: {v}" for k, v in headers.items())]
    if chunked:
        head.append("Transfer-Encoding: chunked")
    frame = (f"{CHUNK:x}\r\n".encode() + b"x" * CHUNK + b"\r\n") if chunked else b"x" * CHUNK
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        sock.setblocking(False)
        sent, pending = 0, memoryview(b"")
        while sent < TOTAL:
            readable, writable, _ = select.select([sock], [sock], [], 10)
            if readable or not writable:
                break
            if not pending:
                pending = memoryview(frame)
            try:
                written = sock.send(pending)
            except (BrokenPipeError, ConnectionResetError):
                break
            pending = pending[written:]
            sent += written
        sock.setblocking(True)
        sock.settimeout(10)
        answer = sock.recv(4096)
    status = int(answer.split(b" ", 2)[1])
    return Refusal(status, sent, _memory(pid, "VmHWM") - before)


def _check(refusal: Refusal, status: int, what: str, max_sent: int) -> None:
    mib = 1024 * 1024
    print(
        f"{what}: {refusal.status} after {refusal.bytes_sent / mib:.1f} MiB of"
        f" {TOTAL // mib} MiB sent; server peak memory +{refusal.peak_growth / mib:.1f} MiB"
    )
    assert refusal.status == status
    assert refusal.bytes_sent < max_sent
    assert refusal.peak_growth < MEMORY_BOUND


def test_an_unauthenticated_upload_is_refused_before_its_body(stack: Stack) -> None:
    headers = {
        "Content-Type": "multipart/form-data; boundary=x",
        "Content-Length": str(TOTAL),  # under the registry's 257 MiB upload limit
    }
    refusal = _stream(stack, "registry", "/models/house-prices/versions", headers)
    _check(refusal, 401, "registry upload, no token", max_sent=16 * 1024 * 1024)


def test_an_upload_declared_over_its_limit_is_refused_before_its_body(stack: Stack) -> None:
    headers = {
        "Content-Type": "multipart/form-data; boundary=x",
        "Content-Length": str(2 * TOTAL),
        "Authorization": f"Bearer {stack.config.registry_token}",
    }
    refusal = _stream(stack, "registry", "/models/house-prices/versions", headers)
    _check(refusal, 413, "registry upload, Content-Length 400 MiB", max_sent=16 * 1024 * 1024)


@pytest.mark.parametrize(("name", "path"), [("ingest", "/records"), ("predictor", "/predict")])
def test_a_streamed_body_is_refused_at_its_limit(stack: Stack, name: str, path: str) -> None:
    refusal = _stream(stack, name, path, {"Content-Type": "application/json"})
    # What the server read up to the limit, plus what the sockets' buffers held meanwhile.
    _check(refusal, 413, f"{name} {path}, chunked", max_sent=LIMIT + 16 * 1024 * 1024)


@pytest.mark.parametrize(("name", "path"), [("ingest", "/records"), ("predictor", "/predict")])
def test_a_declared_body_over_the_limit_is_refused_unread(
    stack: Stack, name: str, path: str
) -> None:
    headers = {"Content-Type": "application/json", "Content-Length": str(TOTAL)}
    refusal = _stream(stack, name, path, headers)
    _check(refusal, 413, f"{name} {path}, Content-Length 200 MiB", max_sent=16 * 1024 * 1024)


def test_the_services_are_healthy_after(stack: Stack) -> None:
    for name in ("ingest", "registry", "predictor"):
        assert httpx.get(stack.config.url(name) + "/healthz", timeout=5).status_code == 200
