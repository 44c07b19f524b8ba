"""Registers the `kafka` marker: tests that run a real Apache Kafka broker (Java + Maven)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "kafka: needs a real Apache Kafka broker (Java 17+, Maven, cached jars)"
    )
