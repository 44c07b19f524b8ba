"""A real registry app served by uvicorn for the CLI tests (its broker never started)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from mlbus.runner import free_port
from services.common.settings import KafkaSettings
from services.registry.app import create_app
from services.registry.config import Settings

TOKEN = "cli-specs-test-token-8c1d4e2f9a7b6035"


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[str]:
    """A registry on SQLite, served on a free port (its broker never started); its URL."""
    settings = Settings(
        token=TOKEN,
        data_dir=tmp_path / "registry",
        kafka=KafkaSettings(bootstrap_servers="127.0.0.1:9"),
        publish_timeout_seconds=0.2,
    )
    port = free_port()
    config = uvicorn.Config(create_app(settings), port=port, lifespan="off", log_level="error")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "the registry did not start"
        assert time.monotonic() < deadline, "the registry did not start within 30 s"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
