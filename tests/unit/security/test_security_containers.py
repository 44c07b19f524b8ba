"""Compose refuses to start without its secrets; the image runs as a non-root user."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
SECRET_NAME = re.compile(r"TOKEN|PASSWORD|SECRET|CREDENTIAL|API_KEY", re.I)
# ${VAR:?message}: compose stops with the message when VAR is unset or empty.
REQUIRED = re.compile(r"^\$\{[A-Z0-9_]+:\?[^}]+\}$")


def secret_settings() -> dict[str, str]:
    """{service.VARIABLE: value} of every environment entry that holds a credential."""
    compose: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    found = {}
    for service, spec in compose["services"].items():
        environment = spec.get("environment") or {}
        if isinstance(environment, list):
            environment = dict(item.split("=", 1) for item in environment)
        for name, value in environment.items():
            if SECRET_NAME.search(name):
                found[f"{service}.{name}"] = str(value)
    return found


def test_mlbus_secrets_have_no_default_in_compose() -> None:
    secrets = {k: v for k, v in secret_settings().items() if ".MLBUS_" in k}
    assert {"registry.MLBUS_REGISTRY_TOKEN", "trainer.MLBUS_TRAINER_REGISTRY_TOKEN"} <= set(secrets)
    loose = {name: value for name, value in secrets.items() if not REQUIRED.match(value)}
    assert loose == {}, f"secrets compose would start without: {loose}"


def test_grafana_admin_password_has_no_default_in_compose() -> None:
    secrets = secret_settings()
    value = secrets["grafana.GF_SECURITY_ADMIN_PASSWORD"]
    assert REQUIRED.match(value), f"grafana admin password falls back to a default: {value}"


def test_the_image_runs_as_a_non_root_user() -> None:
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    last_stage = max(i for i, line in enumerate(lines) if line.startswith("FROM "))
    users = [line.split()[1] for line in lines[last_stage:] if line.startswith("USER ")]
    assert users, "the final stage of the Dockerfile has no USER"
    assert users[-1] not in {"root", "0", "0:0"}
    created = "\n".join(lines[last_stage:])
    match = re.search(rf"useradd[^\n]*--uid (\d+)[^\n]*\b{re.escape(users[-1])}\b", created)
    assert match is not None, "the USER is not created with a uid"
    assert int(match[1]) != 0, "the USER is not created with a non-zero uid"
    # The command runs as that user: no later USER switches back, no su/sudo in CMD.
    assert not re.search(r"^(CMD|ENTRYPOINT).*\b(su|sudo)\b", created, re.M)
