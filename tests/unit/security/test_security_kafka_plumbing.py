"""Kafka SASL/SSL settings reach the faststream broker of every service (plumbing only)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import certifi
import pytest
from faststream.kafka import KafkaBroker

SERVICES = ("ingest", "trainer", "registry", "predictor", "monitor")
PASSWORD = "s3cret-sasl-password"


@pytest.fixture
def service_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """What every service needs to build its app without a broker."""
    monkeypatch.setenv("MLBUS_REGISTRY_TOKEN", "kafka-plumbing-token-3c9e1a7f5b2d8c4e6a0f")
    monkeypatch.setenv("MLBUS_TRAINER_REGISTRY_TOKEN", "kafka-plumbing-token-3c9e1a7f5b2d8c4e6a0f")
    monkeypatch.setenv("MLBUS_REGISTRY_DATA_DIR", str(tmp_path / "registry"))
    monkeypatch.setenv("MLBUS_KAFKA_BOOTSTRAP_SERVERS", "broker.example:9093")


def broker_of(service: str) -> KafkaBroker:
    """The broker that `services.<service>.app.create_app` builds from the environment."""
    config = importlib.import_module(f"services.{service}.config")
    app = importlib.import_module(f"services.{service}.app").create_app(config.Settings())
    broker = app.state.broker
    assert isinstance(broker, KafkaBroker)
    return broker


def connection(broker: KafkaBroker) -> dict[str, Any]:
    # faststream keeps the aiokafka client arguments here; they build producer and consumers.
    return dict(broker._connection_kwargs)


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_ssl_settings_reach_the_broker(
    service: str, mechanism: str, service_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLBUS_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("MLBUS_KAFKA_SASL_MECHANISM", mechanism)
    monkeypatch.setenv("MLBUS_KAFKA_SASL_USERNAME", f"{service}-user")
    monkeypatch.setenv("MLBUS_KAFKA_SASL_PASSWORD", PASSWORD)
    monkeypatch.setenv("MLBUS_KAFKA_SSL_CAFILE", certifi.where())
    kwargs = connection(broker_of(service))
    assert kwargs["bootstrap_servers"] == ["broker.example:9093"]
    assert kwargs["security_protocol"] == "SASL_SSL"
    assert kwargs["sasl_mechanism"] == mechanism
    assert kwargs["sasl_plain_username"] == f"{service}-user"
    assert kwargs["sasl_plain_password"] == PASSWORD
    assert kwargs["ssl_context"] is not None
    assert kwargs["client_id"] == f"mlbus-{service}"


@pytest.mark.parametrize("service", SERVICES)
def test_ssl_only_verifies_the_broker_with_the_configured_ca(
    service: str, service_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLBUS_KAFKA_SECURITY_PROTOCOL", "SSL")
    monkeypatch.setenv("MLBUS_KAFKA_SSL_CAFILE", certifi.where())
    kwargs = connection(broker_of(service))
    assert kwargs["security_protocol"] == "SSL"
    context = kwargs["ssl_context"]
    assert context is not None
    assert context.check_hostname
    assert context.cert_store_stats()["x509_ca"] > 0  # the CA file was loaded
    assert "sasl_plain_password" not in kwargs or kwargs["sasl_plain_password"] is None


@pytest.mark.parametrize("service", SERVICES)
def test_sasl_plaintext_has_no_tls(
    service: str, service_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLBUS_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("MLBUS_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("MLBUS_KAFKA_SASL_USERNAME", "u")
    monkeypatch.setenv("MLBUS_KAFKA_SASL_PASSWORD", PASSWORD)
    kwargs = connection(broker_of(service))
    assert kwargs["security_protocol"] == "SASL_PLAINTEXT"
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512"
    assert kwargs.get("ssl_context") is None


@pytest.mark.parametrize("service", SERVICES)
def test_plaintext_by_default(service: str, service_env: None) -> None:
    kwargs = connection(broker_of(service))
    assert kwargs.get("security_protocol", "PLAINTEXT") == "PLAINTEXT"
    assert not kwargs.get("sasl_plain_password")
