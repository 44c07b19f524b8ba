"""The default broker: Apache Kafka where Java 17+ runs and its jars can be had, else tansu."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mlbus.brokers.apache import kafka_libs_dir
from mlbus.brokers.choice import default_broker_kind, java_major_version


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ('openjdk version "17.0.15" 2025-04-15', 17),
        ('openjdk version "21" 2023-09-19', 21),
        ('java version "1.8.0_391"', 8),
        ("no version here", None),
    ],
)
def test_java_major_version_reads_old_and_new_numbering(output: str, expected: int | None) -> None:
    assert java_major_version(output) == expected


def _path_with(tmp_path: Path, *tools: str) -> str:
    """A PATH holding only `tools` (links to the machine's own)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in tools:
        found = shutil.which(tool)
        if found is None:
            pytest.skip(f"{tool} is not installed here")
        (bin_dir / tool).symlink_to(found)
    return str(bin_dir)


def test_without_java_the_default_is_tansu_and_it_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", _path_with(tmp_path))
    said: list[str] = []
    assert default_broker_kind(said.append) == "tansu"
    assert len(said) == 1
    assert "`java` not found" in said[0]
    assert "falling back to the embedded tansu" in said[0]
    assert "kcat" in said[0]


def test_without_jars_or_maven_the_default_is_tansu_and_it_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", _path_with(tmp_path, "java"))
    monkeypatch.setenv("MLBUS_CACHE_DIR", str(tmp_path / "empty-cache"))
    said: list[str] = []
    assert default_broker_kind(said.append) == "tansu"
    assert said[0].startswith("fetching the Apache Kafka jars with Maven")
    assert "`mvn` not found" in said[1]
    assert "falling back to the embedded tansu" in said[1]


@pytest.mark.kafka
def test_with_java_17_and_cached_jars_the_default_is_apache_kafka() -> None:
    if not (kafka_libs_dir() / ".complete").is_file():
        pytest.skip("the Kafka jars are not cached (python -m mlbus.brokers fetch-kafka)")
    said: list[str] = []
    assert default_broker_kind(said.append) == "kafka"
    assert said == []
