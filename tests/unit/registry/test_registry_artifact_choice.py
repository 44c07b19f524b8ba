"""MLBUS_REGISTRY_ARTIFACT_STORE picks the artifact store; an unusable bucket stops the start."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from services.registry.artifact_stores import open_artifact_store
from services.registry.artifacts import ArtifactStore
from services.registry.config import Settings

TOKEN = secrets.token_hex(32)


def settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **env: str) -> Settings:
    monkeypatch.setenv("MLBUS_REGISTRY_TOKEN", TOKEN)
    monkeypatch.setenv("MLBUS_REGISTRY_DATA_DIR", str(tmp_path))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings()


def test_the_local_directory_is_the_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    store = open_artifact_store(settings(monkeypatch, tmp_path))
    assert isinstance(store, ArtifactStore)
    assert store.directory == tmp_path / "artifacts"


def test_s3_settings_come_from_their_variables_and_hide_the_keys(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret = secrets.token_hex(20)
    chosen = settings(
        monkeypatch,
        tmp_path,
        MLBUS_REGISTRY_ARTIFACT_STORE="s3",
        MLBUS_REGISTRY_S3_BUCKET="models",
        MLBUS_REGISTRY_S3_ENDPOINT_URL="http://127.0.0.1:1",
        MLBUS_REGISTRY_S3_SECRET_ACCESS_KEY=secret,
        MLBUS_REGISTRY_S3_PART_BYTES=str(16 * 1024 * 1024),
    )
    assert chosen.artifact_store == "s3"
    assert (chosen.s3.bucket, chosen.s3.part_bytes) == ("models", 16 * 1024 * 1024)
    assert secret not in repr(chosen)
    assert secret not in str(chosen.model_dump())


def test_parts_below_the_s3_minimum_are_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="part_bytes"):
        settings(monkeypatch, tmp_path, MLBUS_REGISTRY_S3_PART_BYTES="1024")


def test_s3_without_a_bucket_stops_the_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    chosen = settings(monkeypatch, tmp_path, MLBUS_REGISTRY_ARTIFACT_STORE="s3")
    with pytest.raises(ValueError, match="MLBUS_REGISTRY_S3_BUCKET is required"):
        open_artifact_store(chosen)


def test_an_unreachable_bucket_stops_the_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    chosen = settings(
        monkeypatch,
        tmp_path,
        MLBUS_REGISTRY_ARTIFACT_STORE="s3",
        MLBUS_REGISTRY_S3_BUCKET="models",
        MLBUS_REGISTRY_S3_ENDPOINT_URL="http://127.0.0.1:9",  # discard port: nobody answers
        MLBUS_REGISTRY_S3_ACCESS_KEY_ID="id",
        MLBUS_REGISTRY_S3_SECRET_ACCESS_KEY="key",
        MLBUS_REGISTRY_S3_TIMEOUT_SECONDS="1",
    )
    with pytest.raises(RuntimeError, match=r"artifact bucket 'models' .* is not usable"):
        open_artifact_store(chosen)
