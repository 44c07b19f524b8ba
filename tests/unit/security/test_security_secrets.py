"""Secrets are SecretStr, refused when they are placeholders, and never shown in repr or logs."""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

import pytest
from pydantic import BaseModel, SecretStr, ValidationError

from services.common.settings import KafkaSettings

TOKEN = "tok-9f8e7d6c5b4a"
PASSWORD = "pw-0a1b2c3d4e5f"
# Every setting that holds a credential, by service config module and field name.
SECRET_FIELDS = {
    "services.registry.config": ("token", "database_url"),
    "services.trainer.config": ("registry_token",),
}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MLBUS_REGISTRY_TOKEN", TOKEN)
    monkeypatch.setenv("MLBUS_TRAINER_REGISTRY_TOKEN", TOKEN)
    monkeypatch.setenv("MLBUS_REGISTRY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MLBUS_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("MLBUS_KAFKA_SASL_MECHANISM", "PLAIN")
    monkeypatch.setenv("MLBUS_KAFKA_SASL_USERNAME", "user")
    monkeypatch.setenv("MLBUS_KAFKA_SASL_PASSWORD", PASSWORD)


def test_credential_fields_are_secret_str() -> None:
    assert _is_secret(KafkaSettings, "sasl_password")
    for module_name, fields in SECRET_FIELDS.items():
        settings_class = importlib.import_module(module_name).Settings
        for name in fields:
            assert _is_secret(settings_class, name), f"{module_name}.Settings.{name}"


@pytest.mark.parametrize("service", ["ingest", "trainer", "registry", "predictor", "monitor"])
def test_settings_never_show_secrets(service: str, env: None) -> None:
    settings = importlib.import_module(f"services.{service}.config").Settings()
    shown = " ".join([repr(settings), str(settings), repr(settings.kafka), str(settings.kafka)])
    assert PASSWORD not in shown and TOKEN not in shown
    assert PASSWORD not in settings.model_dump_json() and TOKEN not in settings.model_dump_json()
    assert settings.kafka.sasl_password is not None
    assert settings.kafka.sasl_password.get_secret_value() == PASSWORD


@pytest.mark.parametrize("service", ["ingest", "trainer", "registry", "predictor", "monitor"])
def test_building_a_service_logs_no_secret(
    service: str, env: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    config = importlib.import_module(f"services.{service}.config")
    importlib.import_module(f"services.{service}.app").create_app(config.Settings())
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert PASSWORD not in logged and TOKEN not in logged


@pytest.mark.parametrize("placeholder", ["", "changeme"])
def test_registry_refuses_placeholder_tokens(
    placeholder: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.registry.config import Settings

    monkeypatch.setenv("MLBUS_REGISTRY_TOKEN", placeholder)
    with pytest.raises(ValidationError, match="MLBUS_REGISTRY_TOKEN"):
        Settings()


@pytest.mark.parametrize("placeholder", ["", "changeme", "CHANGEME"])
def test_trainer_refuses_placeholder_tokens(
    placeholder: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.trainer.config import Settings

    monkeypatch.setenv("MLBUS_TRAINER_REGISTRY_TOKEN", placeholder)
    with pytest.raises(ValidationError, match="MLBUS_TRAINER_REGISTRY_TOKEN"):
        Settings()


def test_a_missing_token_stops_registry_and_trainer(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.registry.config import Settings as RegistrySettings
    from services.trainer.config import Settings as TrainerSettings

    monkeypatch.delenv("MLBUS_REGISTRY_TOKEN", raising=False)
    monkeypatch.delenv("MLBUS_TRAINER_REGISTRY_TOKEN", raising=False)
    with pytest.raises(ValidationError, match="token"):
        RegistrySettings()
    with pytest.raises(ValidationError, match="registry_token"):
        TrainerSettings()


def _is_secret(model: type[BaseModel], name: str) -> bool:
    annotation = model.model_fields[name].annotation
    return annotation is SecretStr or SecretStr in getattr(annotation, "__args__", ())
