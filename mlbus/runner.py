"""Run the five services as separate processes against one broker (for `mlbus up`, demo, tests)."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx

from contracts import Topics
from mlbus.bus import ensure_topics

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping
    from pathlib import Path
    from types import TracebackType

SERVICES = ("registry", "ingest", "trainer", "predictor", "monitor")
DEFAULT_PORTS = {
    "ingest": 8001,
    "trainer": 8002,
    "registry": 8003,
    "predictor": 8004,
    "monitor": 8005,
}
# The predictor is ready only once it serves a model; the stack is up before that.
_READY_WITHOUT_MODEL = ("registry", "ingest", "trainer", "monitor")


def environment_token() -> str | None:
    return os.environ.get("MLBUS_REGISTRY_TOKEN") or None


def new_token() -> str:
    return secrets.token_urlsafe(24)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class StackConfig:
    """Everything the five processes need to find the broker, each other and their data."""

    bootstrap_servers: str
    workdir: Path
    topic_prefix: str = ""
    spec_path: Path | None = None
    ports: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    # The user's MLBUS_REGISTRY_TOKEN when set (so their promote/rollback work), else a new one.
    registry_token: str = field(default_factory=lambda: environment_token() or new_token())
    # Extra per-service settings, e.g. {"MLBUS_TRAINER_RETRAIN_EVERY": "300"}.
    extra_env: Mapping[str, str] = field(default_factory=dict)
    # Replicas of each topic the stack creates (3 on a replicated cluster).
    replication_factor: int = 1

    @classmethod
    def with_free_ports(
        cls,
        bootstrap_servers: str,
        workdir: Path,
        *,
        topic_prefix: str = "",
        extra_env: Mapping[str, str] | None = None,
        replication_factor: int = 1,
    ) -> StackConfig:
        ports = {name: free_port() for name in SERVICES}
        return cls(
            bootstrap_servers,
            workdir,
            topic_prefix=topic_prefix,
            ports=ports,
            extra_env=dict(extra_env or {}),
            replication_factor=replication_factor,
        )

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def env(self) -> dict[str, str]:
        registry_url = self.url("registry")
        env = {
            "MLBUS_KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers,
            "MLBUS_KAFKA_TOPIC_PREFIX": self.topic_prefix,
            "MLBUS_REGISTRY_TOKEN": self.registry_token,
            "MLBUS_REGISTRY_DATA_DIR": str(self.workdir / "registry"),
            "MLBUS_TRAINER_REGISTRY_TOKEN": self.registry_token,
            "MLBUS_TRAINER_REGISTRY_URL": registry_url,
            "MLBUS_PREDICTOR_REGISTRY_URL": registry_url,
            "MLBUS_MONITOR_REGISTRY_URL": registry_url,
        }
        for name in SERVICES:
            env[f"MLBUS_{name.upper()}_PORT"] = str(self.ports[name])
        if self.spec_path is not None:
            for name in ("ingest", "trainer", "registry", "predictor", "monitor"):
                env[f"MLBUS_{name.upper()}_SPEC"] = str(self.spec_path)
        # The registry refuses models whose inputs are not the spec's features, as in compose.
        env["MLBUS_REGISTRY_SPEC_CHECK"] = "true"
        env.update(self.extra_env)
        return env


class Stack:
    """The five services as child processes; a context manager that always stops them."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.log_dir = config.workdir / "logs"

    def start(self) -> Stack:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        topics = Topics.with_prefix(self.config.topic_prefix).all()
        asyncio.run(
            ensure_topics(
                self.config.bootstrap_servers,
                topics,
                replication_factor=self.config.replication_factor,
            )
        )
        env = {**os.environ, **self.config.env()}
        for name in SERVICES:
            self.start_service(name, env)
        return self

    def start_service(self, name: str, env: Mapping[str, str] | None = None) -> None:
        env = env or {**os.environ, **self.config.env()}
        log = (self.log_dir / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", f"services.{name}"],
            env=dict(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.config.workdir,
        )
        log.close()

    def stop_service(self, name: str, timeout: float = 10.0) -> None:
        process = self.processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def stop(self) -> None:
        for name in reversed(SERVICES):
            self.stop_service(name)

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Block until every service answers /healthz and, but the predictor, /readyz."""
        deadline = time.monotonic() + timeout
        pending = set(SERVICES)
        with httpx.Client(timeout=2.0) as client:
            while pending:
                self.check_alive()
                for name in sorted(pending):
                    path = "/readyz" if name in _READY_WITHOUT_MODEL else "/healthz"
                    try:
                        if client.get(self.config.url(name) + path).status_code == 200:
                            pending.discard(name)
                    except httpx.HTTPError:
                        pass
                if pending and time.monotonic() > deadline:
                    raise TimeoutError(
                        f"services not ready after {timeout:.0f}s: {sorted(pending)}"
                        f"; logs in {self.log_dir}"
                    )
                time.sleep(0.2)

    def wait_service_ready(
        self, name: str, timeout: float = 60.0, *, alive: Collection[str] | None = None
    ) -> float:
        """Seconds until service `name` answers /readyz (the predictor: once it serves a model).

        Fails at once if one of the `alive` services (default: all) has exited.
        """
        started = time.monotonic()
        url = self.config.url(name) + "/readyz"
        while time.monotonic() - started < timeout:
            self.check_alive(alive)
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{name} not ready after {timeout:.0f}s:\n{self.log_tail(name)}")

    def check_alive(self, names: Collection[str] | None = None) -> None:
        """Raise if one of the `names` services (default: all) has exited."""
        for name, process in self.processes.items():
            if names is not None and name not in names:
                continue
            if process.poll() is not None:
                tail = self.log_tail(name)
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{tail}")

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.log_dir / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
