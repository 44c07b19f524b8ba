"""Settings every service shares; each service adds its own under its own env prefix."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from contracts import HOUSE_PRICES, DatasetSpec, Topics


class KafkaSettings(BaseSettings):
    """How to reach the broker; services never assume which broker it is."""

    model_config = SettingsConfigDict(env_prefix="MLBUS_KAFKA_", extra="ignore")

    bootstrap_servers: str = "localhost:9092"
    topic_prefix: str = Field(default="", description="prepended to every topic name")
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    # How long the broker may hold a fetch that finds no data. Apache Kafka answers as soon as
    # data arrives, so a long wait costs no latency and keeps an idle consumer asleep; a broker
    # that holds every fetch for the whole wait (the embedded tansu) needs a short one, which
    # `mlbus up` sets when it starts that broker (see mlbus.brokers.tansu).
    fetch_max_wait_ms: int = Field(default=500, ge=0)
    # The producer fills one batch per partition and, once it is full, waits for it to go out;
    # and aiokafka has one request in flight per broker. Its defaults (16 KiB batches, about 30
    # of our events; 1 MiB requests) kept the send loop waiting on the network more than it
    # worked: 512 KiB batches in requests of up to 4 MiB gave 1.7x the predictor's and the raw
    # pass-through's throughput in bench/predictor.py. A batch must stay under the broker's
    # message.max.bytes (1 MiB by default); a request, under socket.request.max.bytes (100 MiB).
    producer_batch_bytes: int = Field(default=512 * 1024, ge=1024)
    producer_request_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)

    @property
    def topics(self) -> Topics:
        return Topics.with_prefix(self.topic_prefix)


class HttpSettings(BaseSettings):
    """Where a service serves its HTTP routes (/healthz, /readyz, /metrics and its API)."""

    host: str = "127.0.0.1"
    port: int = 8000


def load_spec_setting(value: object) -> DatasetSpec:
    """A spec setting: a path to a YAML/JSON spec file, or empty for the house-price default."""
    from services.common.specfile import load_spec  # local import: keeps settings import light

    if value in (None, ""):
        return HOUSE_PRICES
    if isinstance(value, DatasetSpec):
        return value
    return load_spec(Path(str(value)))


class SpecSettingMixin(BaseSettings):
    """A `spec` field read from a file path; a bad spec stops the service at start."""

    spec: Annotated[DatasetSpec, NoDecode] = HOUSE_PRICES

    @field_validator("spec", mode="before")
    @classmethod
    def _load_spec(cls, value: object) -> DatasetSpec:
        return load_spec_setting(value)


# Values people leave in example env files; a secret equal to one of them is not a secret.
SECRET_PLACEHOLDERS = frozenset({"", "changeme", "change-me", "secret", "token", "placeholder"})


def require_real_secret(value: SecretStr, env_name: str) -> SecretStr:
    """Fail fast at start-up when a secret is empty or a placeholder."""
    if value.get_secret_value().strip().lower() in SECRET_PLACEHOLDERS:
        raise ValueError(f"{env_name} must be set to a real secret, not a placeholder")
    return value
