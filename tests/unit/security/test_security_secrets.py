"""Secrets are SecretStr, refused when they are placeholders, and never shown in repr or logs."""

from __future__ import annotations

import importlib
import logging
import secrets
from pathlib import Path

import pytest
from pydantic import BaseModel, SecretStr, ValidationError

from services.common.settings import KafkaSettings, secret_weakness

TOKEN = "tok-9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c"
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
    assert PASSWORD not in shown
    assert TOKEN not in shown
    assert PASSWORD not in settings.model_dump_json()
    assert TOKEN not in settings.model_dump_json()
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
    assert PASSWORD not in logged
    assert TOKEN not in logged


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


@pytest.mark.parametrize(
    ("weak", "why"),
    [
        ("a", "has 1 characters, fewer than the 32 needed"),
        ("password", "has 8 characters"),
        ("12345678", "has 8 characters"),
        ("change_me", "has 9 characters"),
        ("a" * 64, "uses only 1 different characters"),
        ("passwordpasswordpasswordpassword", "uses only 7 different characters"),
        ("01" * 40, "uses only 2 different characters"),
    ],
)
@pytest.mark.parametrize(
    ("settings_module", "env_name"),
    [
        ("services.registry.config", "MLBUS_REGISTRY_TOKEN"),
        ("services.trainer.config", "MLBUS_TRAINER_REGISTRY_TOKEN"),
    ],
)
def test_weak_tokens_are_refused_with_how_to_make_one(
    weak: str, why: str, settings_module: str, env_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(env_name, weak)
    with pytest.raises(ValidationError) as refused:
        importlib.import_module(settings_module).Settings()
    message = str(refused.value)
    assert f"{env_name} {why}" in message
    assert "openssl rand -hex 32" in message
    assert "input_value" not in message
    assert repr(weak) not in message


@pytest.mark.parametrize(
    "strong",
    [
        secrets.token_hex(32),  # what the README says: openssl rand -hex 32
        secrets.token_hex(16),  # 32 hex digits, 128 bits: the shortest accepted
        secrets.token_urlsafe(24),  # what `mlbus up` generates
        "correct-horse-battery-staple-42x",
    ],
)
def test_tokens_with_entropy_are_accepted(strong: str) -> None:
    assert secret_weakness(strong) is None


def test_random_hex_of_the_minimum_length_always_passes() -> None:
    # The distinct-character rule must not refuse real random tokens: 20,000 draws of the
    # shortest accepted form (odds of a refusal about 4e-8 each).
    assert all(secret_weakness(secrets.token_hex(16)) is None for _ in range(20_000))


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
