"""One Compose project of the real compose.yaml plus tests/containers/compose.test.yaml, with
its own name (so its own network and volumes), fresh secrets and free 127.0.0.1 ports."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from mlbus.brokers.process import free_port
from tests.containers.images import ROOT, SERVICES
from tests.support.polling import eventually_sync

OVERRIDE = Path(__file__).with_name("compose.test.yaml")
SECRETS = ("MLBUS_REGISTRY_TOKEN", "MLBUS_POSTGRES_PASSWORD", "GRAFANA_ADMIN_PASSWORD")
KAFKA_FROM_THE_HOST = "127.0.0.1:19092"  # compose.yaml's published, advertised host listener


class Stack:
    def __init__(self, docker: str, stand_ins: dict[str, str]) -> None:
        self.docker = docker
        self.project = f"mlbus-test-{uuid.uuid4().hex[:8]}"
        self.ports = {name: free_port() for name in (*SERVICES, "prometheus")}
        # The strength a user's would have (`openssl rand -hex 32`).
        self.secrets = {name: secrets.token_hex(32) for name in SECRETS}
        self.stand_ins = stand_ins

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def env(self, without: str | None = None) -> dict[str, str]:
        inherited = ("MLBUS_", "COMPOSE_", "GRAFANA_")
        env = {k: v for k, v in os.environ.items() if not k.startswith(inherited)}
        env.update({k: v for k, v in self.secrets.items() if k != without})
        for name, image in self.stand_ins.items():
            env[f"MLBUS_TEST_{name.upper()}_IMAGE"] = image
        for name, port in self.ports.items():
            env[f"MLBUS_TEST_{name.upper()}_PORT"] = str(port)
        return env

    def compose(
        self, *args: str, without: str | None = None, timeout: float = 120, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        binary = Path(sys.executable).with_name("docker-compose")
        argv = [str(binary), "--env-file", os.devnull, "--project-name", self.project]
        argv += ["-f", str(ROOT / "compose.yaml"), "-f", str(OVERRIDE), *args]
        result = subprocess.run(
            argv, capture_output=True, text=True, env=self.env(without), timeout=timeout
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"compose {' '.join(args)} failed:\n{result.stderr[-4000:]}")
        return result

    def containers(self) -> list[dict[str, Any]]:
        """`compose ps --all` as dicts (one JSON object a line, or one array: both forms)."""
        text = self.compose("ps", "--all", "--format", "json").stdout.strip()
        if text.startswith("["):
            return list(json.loads(text))
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def container_id(self, service: str) -> str:
        return self.compose("ps", "--all", "--quiet", service).stdout.strip()

    def inspect(self, container: str) -> dict[str, Any]:
        result = subprocess.run(
            [self.docker, "inspect", container], capture_output=True, text=True, check=True
        )
        return dict(json.loads(result.stdout)[0])

    def wait_healthy(self, timeout: float) -> list[dict[str, Any]]:
        """Until every container with a healthcheck is healthy and the topics job exited 0."""
        return eventually_sync(
            self.containers,
            what="every container healthy and the topics job exited 0",
            until=lambda containers: all(_settled(c) for c in containers),
            timeout=timeout,
            interval=2,
        )

    def logs(self) -> str:
        return self.compose("logs", "--no-color", "--timestamps", check=False).stdout

    def leftovers(self) -> list[str]:
        """Containers, volumes and networks of this project still on the engine."""
        label = f"label=com.docker.compose.project={self.project}"
        found: list[str] = []
        for kind in (["ps", "--all"], ["volume", "ls"], ["network", "ls"]):
            result = subprocess.run(
                [self.docker, *kind, "--quiet", "--filter", label],
                capture_output=True,
                text=True,
                check=True,
            )
            found += [f"{kind[0]} {line}" for line in result.stdout.split()]
        return found


def _settled(container: dict[str, Any]) -> bool:
    if container["Service"] == "kafka-topics":
        return bool(container["State"] == "exited" and container["ExitCode"] == 0)
    health = container.get("Health") or ""
    return bool(container["State"] == "running" and health in ("", "healthy"))
