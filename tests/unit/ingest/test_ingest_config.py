"""Ingest settings come from MLBUS_INGEST_* (and MLBUS_KAFKA_*) environment variables."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from contracts import HOUSE_PRICES, DatasetSpec, NumericFeature, RegressionTarget
from services.common.specfile import dump_spec
from services.ingest.config import Settings


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MLBUS_INGEST_PORT", "MLBUS_INGEST_SPEC", "MLBUS_KAFKA_TOPIC_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert (settings.host, settings.port) == ("127.0.0.1", 8001)
    assert settings.spec == HOUSE_PRICES
    assert settings.group_id == "mlbus-ingest"


def test_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    spec = DatasetSpec(
        name="toy", target=RegressionTarget(name="y"), features=(NumericFeature(name="x"),)
    )
    path = tmp_path / "toy.yaml"
    path.write_text(dump_spec(spec))
    monkeypatch.setenv("MLBUS_INGEST_PORT", "9101")
    monkeypatch.setenv("MLBUS_INGEST_SPEC", str(path))
    monkeypatch.setenv("MLBUS_KAFKA_TOPIC_PREFIX", "t42.")
    settings = Settings()
    assert settings.port == 9101
    assert settings.spec == spec
    assert settings.group_id == "t42.mlbus-ingest"
    assert settings.kafka.topics.raw == "t42.ingest.raw.v1"


def test_a_bad_spec_path_stops_the_service(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MLBUS_INGEST_SPEC", str(tmp_path / "missing.yaml"))
    with pytest.raises(ValidationError, match="cannot read dataset spec"):
        Settings()


def test_idempotency_batching_and_v2_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLBUS_INGEST_DEDUP_HORIZON_SECONDS", "0")
    monkeypatch.setenv("MLBUS_INGEST_DEDUP_MAX_IDS", "10")
    monkeypatch.setenv("MLBUS_INGEST_BATCH_MAX_RECORDS", "50")
    monkeypatch.setenv("MLBUS_INGEST_PUBLISH_V2", "true")
    settings = Settings()
    assert (settings.dedup_horizon_seconds, settings.dedup_max_ids) == (0, 10)
    assert (settings.batch_max_records, settings.publish_v2) == (50, True)
    monkeypatch.setenv("MLBUS_INGEST_DEDUP_HORIZON_SECONDS", "-1")
    with pytest.raises(ValidationError):
        Settings()


def test_a_spec_whose_imputed_value_breaks_its_own_rules_stops_the_service(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: toy\ntarget: {name: y}\nfeatures:\n"
        "- {type: categorical, name: c, categories: [a, b], nullable: true, impute: z}\n"
    )
    monkeypatch.setenv("MLBUS_INGEST_SPEC", str(path))
    with pytest.raises(ValidationError, match="impute value 'z' is not one of the categories"):
        Settings()
