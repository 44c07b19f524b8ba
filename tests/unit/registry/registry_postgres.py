"""A throwaway PostgreSQL cluster (Debian's binaries) for the registry tests, one per process.

PostgreSQL refuses to run as root: as root (CI) the cluster runs as the `postgres` user.
MLBUS_TEST_POSTGRES_URL points the tests at an existing server instead.
"""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import psycopg
import pytest

_cluster_url: str | None = None


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_major)
    if not found:
        raise RuntimeError(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb):"
            " run scripts/install-ci-deps.sh (Debian package `postgresql`)"
        )
    return Path(found[-1]).parent


def _major(path: str) -> int:
    return int(Path(path).parent.parent.name.split(".")[0])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_cluster_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


def _start_cluster() -> str:
    bin_dir = _bin_dir()
    # Not under pytest's tmp dir: that one is 0700 root-owned, unreachable for `postgres`.
    root = Path(tempfile.mkdtemp(prefix="mlbus-pg-"))
    data, log = root / "data", root / "server.log"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    port = _free_port()
    run = _as_cluster_user
    fast = ["-E", "UTF8", "--no-sync", "--no-instructions"]
    subprocess.run(
        run([str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", *fast]),
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    started = subprocess.run(
        run(
            [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "start"]
        ),
        capture_output=True,
        text=True,
    )
    if started.returncode != 0:
        raise RuntimeError(f"PostgreSQL did not start: {started.stderr}\n{log.read_text()}")

    def stop() -> None:
        subprocess.run(
            run([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)

    atexit.register(stop)
    return f"postgresql://postgres@127.0.0.1:{port}/postgres"


def server_url() -> str:
    """The URL of the server's maintenance database; the cluster starts on first use."""
    global _cluster_url
    if _cluster_url is None:
        _cluster_url = os.environ.get("MLBUS_TEST_POSTGRES_URL") or _start_cluster()
    return _cluster_url


def fresh_database() -> str:
    """A new empty database on the test server; its URL."""
    server = server_url()
    name = f"registry_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return server.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each registry test runs on SQLite and on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'registry.sqlite3'}"
    return fresh_database()
