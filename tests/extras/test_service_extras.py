"""Each service's extra holds exactly what the service imports, checked in the environment its
image installs: `uv sync --no-dev --extra SERVICE` (the project installed non-editable, run from
outside the source tree, as in the Dockerfile). uv's cache makes the five venvs cheap after the
first run (hard links, no downloads)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ["ingest", "trainer", "registry", "predictor", "monitor"]
PROBE = Path(__file__).with_name("import_probe.py")


def _normalize(requirement: str) -> str:
    name = re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> tuple[set[str], dict[str, set[str]]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {_normalize(req) for req in project["dependencies"]}
    extras = project["optional-dependencies"]
    return core, {service: {_normalize(req) for req in extras[service]} for service in SERVICES}


def _uv() -> list[str]:
    """uv as the Makefile runs it: a `uv` on PATH, else the system Python's `-m uv`."""
    found = shutil.which("uv")
    return [found] if found else ["python3", "-m", "uv"]


def _service_venv(service: str, venv: Path) -> Path:
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv)}
    env.pop("VIRTUAL_ENV", None)
    argv = [*_uv(), "sync", "--quiet", "--frozen", "--no-dev"]
    argv += ["--no-editable", "--extra", service]
    result = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"uv sync --extra {service} failed:\n{result.stderr[-3000:]}"
    return venv / "bin" / "python"


@pytest.mark.parametrize("service", SERVICES)
def test_the_service_extra_holds_exactly_what_the_service_imports(
    service: str, tmp_path: Path
) -> None:
    python = _service_venv(service, tmp_path / f"venv-{service}")
    # cwd outside the tree: `services` must come from the installed wheel, not the checkout.
    result = subprocess.run(
        [str(python), str(PROBE), service, str(ROOT)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["app_error"] is None, f"services.{service}.app:\n{report['app_error']}"
    assert report["missing"] == [], f"{service} imports modules its venv lacks"
    core, extras = _declared()
    imported = {_normalize(dist) for dist in report["distributions"]}
    unused = extras[service] - imported
    assert not unused, f"the {service} extra declares packages the service never imports"
    needed_beyond_core = imported - core - {"mlbus"}
    assert needed_beyond_core <= extras[service] | _transitively_core(python, core), (
        f"{service} imports {sorted(needed_beyond_core - extras[service])} "
        "which neither its extra nor the core declares"
    )


def _transitively_core(python: Path, core: set[str]) -> set[str]:
    """Packages the core's own dependencies bring (anyio through fastapi, ...): imported by
    the services' code only where the core library's API hands them out."""
    code = (
        "import importlib.metadata as m, json, re, sys\n"
        "seen, todo = set(), list(sys.argv[1:])\n"
        "norm = lambda n: re.sub(r'[-_.]+', '-', n).lower()\n"
        "while todo:\n"
        "    name = todo.pop()\n"
        "    if name in seen: continue\n"
        "    seen.add(name)\n"
        "    try: reqs = m.requires(name) or []\n"
        "    except m.PackageNotFoundError: continue\n"
        "    todo += [norm(re.split(r'[\\[<>=!~; ]', r, maxsplit=1)[0]) for r in reqs"
        " if 'extra ==' not in r]\n"
        "print(json.dumps(sorted(seen)))\n"
    )
    result = subprocess.run(
        [str(python), "-c", code, *sorted(core)], capture_output=True, text=True, check=True
    )
    return set(json.loads(result.stdout))
