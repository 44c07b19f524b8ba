"""A real S3-compatible server for the tests: SeaweedFS (`weed server -s3`) on loopback ports.

The binary is built from the Go module proxy by scripts/install-ci-deps.sh into
~/.cache/mlbus/bin/weed (MLBUS_TEST_WEED names another). Its data lives in a directory that
outlives a restart, so `restart()` brings back the same objects, as a real outage would.
Also here: a throttling TCP relay, to cut or slow the registry's connection to the server.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import httpx
from botocore.config import Config

DEFAULT_WEED = Path.home() / ".cache" / "mlbus" / "bin" / "weed"


def weed_binary() -> Path:
    configured = os.environ.get("MLBUS_TEST_WEED")
    found = Path(configured) if configured else DEFAULT_WEED
    if not found.is_file():
        on_path = shutil.which("weed")
        if on_path is None:
            raise RuntimeError(
                f"SeaweedFS is not installed ({found} missing):"
                " run scripts/install-ci-deps.sh, which builds it from the Go module proxy"
            )
        found = Path(on_path)
    return found


def free_port() -> int:
    """A free port whose +10000 neighbour is free too (weed derives gRPC ports that way)."""
    while True:
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = int(first.getsockname()[1])
            if port + 10000 > 65535:
                continue
            with socket.socket() as second:
                try:
                    second.bind(("127.0.0.1", port + 10000))
                except OSError:
                    continue
            return port


class SeaweedS3:
    """`weed server` with a master, a volume server, a filer and the S3 gateway."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        self.access_key = "mlbus" + secrets.token_hex(8)
        self.secret_key = secrets.token_hex(20)
        self.ports = {name: free_port() for name in ("master", "volume", "filer", "s3")}
        self.config = root / "s3.json"
        self.config.write_text(json.dumps(self._identities()))
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3']}"

    def _identities(self) -> dict[str, Any]:
        actions = ["Admin", "Read", "Write", "List", "Tagging"]
        credentials = [{"accessKey": self.access_key, "secretKey": self.secret_key}]
        return {"identities": [{"name": "mlbus", "credentials": credentials, "actions": actions}]}

    def _command(self) -> list[str]:
        p = self.ports
        return [
            str(weed_binary()),
            "server",
            f"-dir={self.data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={p['master']}",
            "-master.volumeSizeLimitMB=64",
            f"-volume.port={p['volume']}",
            "-volume.max=16",
            "-volume.preStopSeconds=0",
            "-filer",
            f"-filer.port={p['filer']}",
            "-s3",
            f"-s3.port={p['s3']}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.config={self.config}",
        ]

    def start(self, timeout: float = 90.0) -> None:
        log = (self.root / "weed.log").open("ab")
        self.process = subprocess.Popen(self._command(), stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.starts += 1
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float) -> None:
        """Until the gateway answers a signed request (it needs the filer and a volume)."""
        deadline = time.monotonic() + timeout
        client = self.client()
        probe = f"probe-{secrets.token_hex(4)}"
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"weed exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            try:
                client.create_bucket(Bucket=probe)
                client.delete_bucket(Bucket=probe)
                return
            except Exception as exc:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"SeaweedFS S3 not ready: {exc}\n{self.log_tail()}") from exc
                time.sleep(0.3)

    def stop(self, *, kill: bool = False) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        if kill:
            self.process.kill()
        else:
            self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def restart(self) -> None:
        self.stop(kill=True)
        self.start()

    def client(self, endpoint: str | None = None) -> Any:
        config = Config(
            s3={"addressing_style": "path"},
            retries={"max_attempts": 1},
            connect_timeout=5,
            read_timeout=30,
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        return boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint or self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=config,
        )

    def new_bucket(self) -> str:
        name = f"mlbus-{secrets.token_hex(6)}"
        self.client().create_bucket(Bucket=name)
        return name

    def registry_env(self, bucket: str, endpoint: str | None = None) -> dict[str, str]:
        """The registry settings that put its artifacts in `bucket`."""
        return {
            "MLBUS_REGISTRY_ARTIFACT_STORE": "s3",
            "MLBUS_REGISTRY_S3_ENDPOINT_URL": endpoint or self.endpoint,
            "MLBUS_REGISTRY_S3_BUCKET": bucket,
            "MLBUS_REGISTRY_S3_ACCESS_KEY_ID": self.access_key,
            "MLBUS_REGISTRY_S3_SECRET_ACCESS_KEY": self.secret_key,
        }

    def log_tail(self, lines: int = 30) -> str:
        path = self.root / "weed.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def ready(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


class SlowRelay:
    """A loopback TCP relay to `target` that sends server bytes at `bytes_per_second`.

    `on_bytes(total)` is called from the relay threads as server bytes pass; `cut()` closes
    every open connection, as a server that dies mid-transfer does.
    """

    def __init__(self, target_port: int, bytes_per_second: int) -> None:
        self.target_port = target_port
        self.rate = bytes_per_second
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.relayed = 0
        self.on_bytes: Callable[[int], None] | None = None
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()  # the server is down: the caller sees a refused connection
                continue
            with self._lock:
                self._open += [client, server]
            threading.Thread(target=self._pump, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, throttled: bool) -> None:
        chunk = 16 * 1024
        try:
            while data := source.recv(chunk):
                sink.sendall(data)
                if throttled:
                    with self._lock:
                        self.relayed += len(data)
                        total = self.relayed
                    if self.on_bytes is not None:
                        self.on_bytes(total)
                    time.sleep(len(data) / self.rate)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
                end.close()

    def cut(self) -> None:
        with self._lock:
            sockets, self._open = self._open, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.listener.close()
        self.cut()
