"""ServiceSettings: the one base of every service's Settings, and its conventions."""

from __future__ import annotations

import importlib
from typing import ClassVar

import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

from services.common.settings import KafkaSettings, Port, ServiceSettings

SERVICES = ("ingest", "trainer", "registry", "monitor")
TOKEN = "f3" * 8 + "0123456789abcdef"


@pytest.fixture(autouse=True)
def _tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLBUS_TRAINER_REGISTRY_TOKEN", TOKEN)
    monkeypatch.setenv("MLBUS_REGISTRY_TOKEN", TOKEN)


def settings_class(service: str) -> type[ServiceSettings]:
    cls: type[ServiceSettings] = importlib.import_module(f"services.{service}.config").Settings
    return cls


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_settings_derives_from_the_base(service: str) -> None:
    assert issubclass(settings_class(service), ServiceSettings)


@pytest.mark.parametrize("service", SERVICES)
def test_group_id_is_prefix_then_mlbus_service(service: str) -> None:
    settings = settings_class(service)(kafka=KafkaSettings(topic_prefix="t1."))
    assert settings.group_id == f"t1.mlbus-{service}"


@pytest.mark.parametrize("service", SERVICES)
def test_a_keyword_that_names_no_setting_is_refused(service: str) -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        settings_class(service)(batch_max_record=5)  # type: ignore[call-arg]


@pytest.mark.parametrize("port", [-1, 65536])
def test_a_port_out_of_range_is_refused(port: int) -> None:
    with pytest.raises(ValidationError, match="port"):
        settings_class("ingest")(port=port)


def test_a_registry_url_that_is_not_http_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLBUS_MONITOR_REGISTRY_URL", "127.0.0.1:8003")
    with pytest.raises(ValidationError, match="http:// or https://"):
        settings_class("monitor")()


def test_a_topic_prefix_kafka_cannot_name_is_refused() -> None:
    with pytest.raises(ValidationError, match="topic_prefix"):
        KafkaSettings(topic_prefix="my prefix/")


def test_a_settings_class_whose_env_prefix_disagrees_with_its_service_fails_at_import() -> None:
    with pytest.raises(TypeError, match="MLBUS_ODD_"):

        class Settings(ServiceSettings):
            model_config = SettingsConfigDict(env_prefix="MLBUS_OTHER_")
            service: ClassVar[str] = "odd"
            port: Port = 9000


def test_a_sasl_protocol_without_credentials_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLBUS_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("MLBUS_KAFKA_SASL_USERNAME", "svc")
    with pytest.raises(ValidationError, match="needs MLBUS_KAFKA_SASL_USERNAME"):
        KafkaSettings()


def test_group_session_settings_are_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLBUS_KAFKA_SESSION_TIMEOUT_MS", "10000")
    monkeypatch.setenv("MLBUS_KAFKA_HEARTBEAT_INTERVAL_MS", "3000")
    settings = KafkaSettings()
    assert (settings.session_timeout_ms, settings.heartbeat_interval_ms) == (10_000, 3_000)


def test_a_heartbeat_interval_not_below_the_session_timeout_is_refused() -> None:
    with pytest.raises(ValidationError, match="HEARTBEAT_INTERVAL_MS must be below"):
        KafkaSettings(session_timeout_ms=6_000, heartbeat_interval_ms=6_000)
