"""`helm test`'s pod: it asks every service's /readyz through its Service, and its script (run
here as the pod would run it) passes only when every answer is 200."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.chart.chart_tools import SERVICES, component_of, objects_of


class _Readyz(BaseHTTPRequestHandler):
    """/ready/… answers 200 and /not-ready/… 503, as a service's /readyz does."""

    def do_GET(self) -> None:
        status = 200 if self.path.startswith("/ready/") else 503
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"ready": %s}' % (b"true" if status == 200 else b"false"))

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def readyz_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Readyz)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def _test_pod() -> dict[str, Any]:
    (pod,) = [
        obj
        for obj in objects_of("defaults", "Pod")
        if obj["metadata"]["annotations"]["helm.sh/hook"] == "test"
    ]
    return pod


def test_the_test_pod_asks_every_services_readyz_through_its_service() -> None:
    (container,) = _test_pod()["spec"]["containers"]
    services = {
        component_of(svc): f"http://{svc['metadata']['name']}:{svc['spec']['ports'][0]['port']}"
        for svc in objects_of("defaults", "Service")
    }
    assert sorted(container["args"]) == sorted(f"{services[s]}/readyz" for s in SERVICES)
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def _run_script(*urls: str) -> subprocess.CompletedProcess[str]:
    (container,) = _test_pod()["spec"]["containers"]
    assert container["command"][:2] == ["python", "-c"]
    script = container["command"][2]
    return subprocess.run(
        [sys.executable, "-c", script, *urls], capture_output=True, text=True, timeout=60
    )


def test_the_test_passes_when_every_service_is_ready(readyz_server: str) -> None:
    result = _run_script(f"{readyz_server}/ready/ingest", f"{readyz_server}/ready/predictor")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(" 200 ") == 2


def test_the_test_fails_naming_the_service_that_is_not_ready(readyz_server: str) -> None:
    result = _run_script(f"{readyz_server}/ready/ingest", f"{readyz_server}/not-ready/registry")
    assert result.returncode != 0
    assert "/not-ready/registry" in result.stderr
    assert "503" in result.stderr
