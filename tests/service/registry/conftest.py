"""A registry app on a temp data dir and each SQL backend; events captured in memory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.common.settings import KafkaSettings
from services.registry.config import Settings
from tests.service.registry.registry_harness import TOKEN, Registry, open_registry
from tests.unit.registry.registry_postgres import database_url

__all__ = ["database_url", "registry", "settings"]


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        token=TOKEN,
        database_url=database_url,
        data_dir=tmp_path / "registry",
        kafka=KafkaSettings(topic_prefix="test."),
        max_artifact_bytes=64 * 1024,
    )


@pytest.fixture
async def registry(settings: Settings) -> AsyncIterator[Registry]:
    async with open_registry(settings) as registry:
        yield registry
