"""Rendering deploy/helm/mlbus with the real helm, and reading what it rendered."""

from __future__ import annotations

import functools
import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.common.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "mlbus"
VALUES = Path(__file__).resolve().parent / "values"
SERVICES = ("ingest", "trainer", "registry", "predictor", "monitor")
# The value sets rendered and checked: each adds to values/required.yaml.
VALUE_SETS = (
    "defaults",
    "keda-off",
    "existing-secret",
    "external-s3",
    "minimal-resources",
    "replicated-kafka",
)
# The cluster version helm renders for (the chart needs >= 1.29) and the schemas it is checked
# against: the oldest and the newest that kubernetes-validate ships from there.
KUBE_VERSION = "1.29.0"
SCHEMA_VERSIONS = ("1.29.0", "1.37.0")
RELEASE = "mlbus"
NAMESPACE = "mlbus"
HELM_HINT = "scripts/install-ci-deps.sh installs it (go install helm.sh/helm/v4/cmd/helm)"


def settings_class(service: str) -> type[ServiceSettings]:
    """The one place that knows where a service's Settings class lives."""
    module = importlib.import_module(f"services.{service}.config")
    settings: type[ServiceSettings] = module.Settings
    return settings


def helm_binary() -> str:
    """helm next to this Python (the venv), in ~/.cache/mlbus/bin (install-ci-deps), or on PATH."""
    for candidate in (
        Path(sys.executable).parent / "helm",
        Path.home() / ".cache" / "mlbus" / "bin" / "helm",
    ):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("helm")
    if found is None:
        pytest.fail(f"`helm` is missing: {HELM_HINT}")
    return found


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    # HOME-independent: helm keeps no state between these runs that the tests rely on.
    return subprocess.run(
        [helm_binary(), *args], capture_output=True, text=True, timeout=120, check=False
    )


def values_args(value_set: str, *extra: str) -> list[str]:
    files = [VALUES / "required.yaml", VALUES / f"{value_set}.yaml"]
    return [arg for path in files for arg in ("--values", str(path))] + list(extra)


def template(*args: str) -> subprocess.CompletedProcess[str]:
    return helm(
        "template", RELEASE, str(CHART), "--namespace", NAMESPACE, "--kube-version", KUBE_VERSION,
        *args,
    )  # fmt: skip


@functools.cache
def rendered(value_set: str) -> tuple[dict[str, Any], ...]:
    """Every object `helm template` renders for a value set (cached: the tests only read it)."""
    result = template(*values_args(value_set))
    assert result.returncode == 0, result.stderr
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def objects_of(value_set: str, kind: str) -> list[dict[str, Any]]:
    return [obj for obj in rendered(value_set) if obj["kind"] == kind]


def deployment_of(value_set: str, service: str) -> dict[str, Any]:
    (deployment,) = [
        obj
        for obj in objects_of(value_set, "Deployment")
        if obj["metadata"]["labels"]["app.kubernetes.io/component"] == service
    ]
    return deployment


def container_of(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    found: dict[str, Any] = container
    return found


def env_of(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = container_of(deployment)["env"]
    return env


def component_of(obj: dict[str, Any]) -> str:
    """The service an object belongs to (its app.kubernetes.io/component label)."""
    component: str = obj["metadata"]["labels"]["app.kubernetes.io/component"]
    return component


def render_failure(*args: str) -> str:
    """helm template's error for values it must refuse (the test fails if it renders)."""
    result = template(*args)
    assert result.returncode != 0, "rendered, but should have been refused"
    return result.stderr
