"""Fault 3: the download of a newly promoted champion is cut mid-transfer.

The predictor is pointed at a stand-in registry that forwards every request to the real one,
except that, while told to, it sends half of an artifact (with its full Content-Length) and
closes the connection. The predictor must keep serving the old model, count and announce the
interrupted download, retry, and serve the new version once downloads work again.
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import onnx
import pytest

from contracts import HOUSE_PRICES, Topics
from mlbus.runner import Stack
from tests.faults.fault_helpers import predicted_versions, stream_and_account
from tests.support.accounting import read_all
from tests.support.polling import eventually_sync

pytestmark = pytest.mark.e2e

MODEL = HOUSE_PRICES.name
_LOADS = re.compile(
    r'^mlbus_predictor_model_loads_total\{model="[^"]+",outcome="(\w+)"\} (\S+)$', re.M
)
_FORWARDED_HEADERS = ("content-type", "x-content-sha256")


class CuttingRegistry:
    """A stand-in for the registry in front of the real one; `cutting` breaks artifact downloads."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.cutting = threading.Event()
        self.artifact_requests: list[tuple[str, bool]] = []  # (path, was it cut)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def requests_for(self, version: int, *, cut: bool) -> int:
        suffix = f"/versions/{version}/artifact"
        return sum(p.endswith(suffix) and c == cut for p, c in list(self.artifact_requests))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                upstream = httpx.get(stand_in.upstream + self.path, timeout=30)
                is_artifact = self.path.endswith("/artifact") and upstream.status_code == 200
                cut = is_artifact and stand_in.cutting.is_set()
                if is_artifact:
                    stand_in.artifact_requests.append((self.path, cut))
                self.send_response(upstream.status_code)
                for name in _FORWARDED_HEADERS:
                    if name in upstream.headers:
                        self.send_header(name, upstream.headers[name])
                self.send_header("Content-Length", str(len(upstream.content)))
                self.end_headers()
                if not cut:
                    self.wfile.write(upstream.content)
                    return
                self.wfile.write(upstream.content[: len(upstream.content) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)  # mid-body, as a dropped link would

            def log_message(self, format: str, *args: Any) -> None:
                return  # quiet: the test prints its own summary

        return Handler

    def __enter__(self) -> CuttingRegistry:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


@contextmanager
def predictor_behind(stack: Stack, registry_url: str) -> Iterator[None]:
    """The stack's predictor restarted to use `registry_url`; put back as it was afterwards."""
    env = {**os.environ, **stack.config.env(), "MLBUS_PREDICTOR_REGISTRY_URL": registry_url}
    stack.stop_service("predictor")
    stack.start_service("predictor", env)
    try:
        stack.wait_service_ready("predictor")
        yield
    finally:
        stack.stop_service("predictor")
        stack.start_service("predictor")
        stack.wait_service_ready("predictor")


async def test_an_interrupted_download_keeps_the_old_model_until_a_retry_succeeds(
    trained_stack: Stack, registry_client: httpx.Client
) -> None:
    config, registry = trained_stack.config, registry_client
    predictor_url = config.url("predictor")
    old = registry.get(f"/models/{MODEL}/aliases/champion").json()
    stand_in = CuttingRegistry(config.url("registry"))
    with stand_in, predictor_behind(trained_stack, stand_in.url):
        assert _serving(predictor_url) == old["version"]
        before = _loads(predictor_url)
        stand_in.cutting.set()
        new = _promote_a_variant(registry, old, config.registry_token)
        started = time.monotonic()
        eventually_sync(
            lambda: stand_in.requests_for(new, cut=True),
            what="two cut downloads",
            until=lambda cut: cut >= 2,
            context=lambda: (
                f"{stand_in.artifact_requests}\n" + trained_stack.log_tail("predictor", 40)
            ),
        )
        cut_seen = time.monotonic() - started

        result = await stream_and_account(trained_stack, "cut-", 100, seed=41)
        assert result.lost == [], result.summary()
        assert await predicted_versions(trained_stack, "cut-") == {old["version"]}
        assert _serving(predictor_url) == old["version"]
        after = _loads(predictor_url)
        assert after.get("interrupted", 0) - before.get("interrupted", 0) >= 2, after
        assert after.get("refused") == before.get("refused"), (before, after)
        await _assert_announced_once(trained_stack, new)

        stand_in.cutting.clear()
        healed = time.monotonic()
        eventually_sync(
            lambda: _serving(predictor_url),
            what=f"v{new} served",
            until=lambda serving: serving == new,
            context=lambda: (
                f"{stand_in.artifact_requests}\n" + trained_stack.log_tail("predictor", 40)
            ),
        )
        recovered = time.monotonic() - healed
        result = await stream_and_account(trained_stack, "healed-", 100, seed=41)
        assert result.lost == [], result.summary()
        assert await predicted_versions(trained_stack, "healed-") == {new}
        cuts = stand_in.requests_for(new, cut=True)
    print(
        f"fault 3 (download of v{new} cut {cuts}x, first two in {cut_seen:.1f}s): 100 requests"
        f" served by v{old['version']}, 0 lost; v{new} served {recovered:.1f}s after the link"
        f" healed; loads {after}"
    )


def _promote_a_variant(registry: httpx.Client, old: dict[str, Any], token: str) -> int:
    """Upload the champion's model with other bytes and a better RMSE: it becomes champion."""
    artifact = registry.get(f"/models/{MODEL}/versions/{old['version']}/artifact").content
    model = onnx.load_from_string(artifact)
    model.doc_string = f"{model.doc_string} (download fault variant)"
    card = {**old["card"], "metrics": {**old["card"]["metrics"], "rmse": 0.5}}
    response = registry.post(
        f"/models/{MODEL}/versions",
        headers={"Authorization": f"Bearer {token}"},
        files={"artifact": ("model.onnx", model.SerializeToString(), "application/octet-stream")},
        data={"card": json.dumps(card)},
    )
    assert response.status_code == 201, response.text
    promoted = response.json()
    assert "champion" in promoted["aliases"], promoted
    return int(promoted["version"])


async def _assert_announced_once(stack: Stack, version: int) -> None:
    topic = Topics.with_prefix(stack.config.topic_prefix).models
    raw = await read_all(stack.config.bootstrap_servers, [topic], timeout=10)
    events = [json.loads(m) for m in raw[topic]]
    refusals = [
        e
        for e in events
        if e.get("kind") == "model.refused.v1"
        and e.get("version") == version
        and e.get("refused_by") == "predictor"
    ]
    assert len(refusals) == 1, refusals
    assert "interrupted" in refusals[0]["reason"], refusals[0]


def _loads(predictor_url: str) -> dict[str, float]:
    text = httpx.get(predictor_url + "/metrics", timeout=5).text
    return {outcome: float(value) for outcome, value in _LOADS.findall(text)}


def _serving(predictor_url: str) -> int:
    return int(httpx.get(predictor_url + "/model", timeout=5).json()["version"])
