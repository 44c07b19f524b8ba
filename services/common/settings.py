"""Settings every service shares; each service adds its own under its own env prefix."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    SecretStr,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from contracts import HOUSE_PRICES, DatasetSpec, Topics


class KafkaSettings(BaseSettings):
    """How to reach the broker; services never assume which broker it is."""

    model_config = SettingsConfigDict(
        env_prefix="MLBUS_KAFKA_", extra="forbid", hide_input_in_errors=True
    )

    bootstrap_servers: str = Field(default="localhost:9092", min_length=1)
    topic_prefix: str = Field(
        default="",
        pattern=r"^[A-Za-z0-9._-]*$",  # the characters Kafka allows in a topic name
        description="prepended to every topic name",
    )
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
    # How many replicas must have a record before the producer counts it as sent. "1" (the
    # leader alone; aiokafka's default) loses what a leader acknowledged but had not yet
    # replicated when it dies; on a replicated cluster (RF 3, min.insync.replicas=2) use "all"
    # with idempotence, so that a retried send after a leader change writes no second copy.
    producer_acks: Literal["all", "1", "0"] = "1"
    producer_idempotence: bool = False
    # A consumer with records waiting whose offsets have not moved for this long is stalled:
    # its service's /readyz turns red and says why (services.common.progress).
    consumer_stall_seconds: float = Field(default=120.0, gt=0)
    # A consumer group notices a member that died (kill -9, a lost node) once its session
    # times out: the member's partitions stall that long. aiokafka's 10 s session (3 s
    # heartbeats) stalled predictions ~13 s in the cluster test; 6 s is the least Apache
    # Kafka's group.min.session.timeout.ms allows by default. Heartbeats go out several
    # times per session, so one late heartbeat on a busy host does not evict a live member.
    session_timeout_ms: int = Field(default=6_000, ge=1_000)
    heartbeat_interval_ms: int = Field(default=1_500, ge=100)
    # Learn the data sets registered at run time from the registry's specs topic. Off: a
    # service knows only the spec it started with (a single data set, no registry needed).
    follow_specs: bool = True

    @model_validator(mode="after")
    def _heartbeats_within_session(self) -> Self:
        """Kafka refuses a heartbeat interval that is not below the session timeout."""
        if self.heartbeat_interval_ms >= self.session_timeout_ms:
            raise ValueError(
                "MLBUS_KAFKA_HEARTBEAT_INTERVAL_MS must be below MLBUS_KAFKA_SESSION_TIMEOUT_MS"
            )
        return self

    @model_validator(mode="after")
    def _sasl_has_credentials(self) -> Self:
        """A SASL protocol without a user or password would retry its login forever."""
        if self.security_protocol.startswith("SASL_") and not (
            self.sasl_username and self.sasl_password and self.sasl_password.get_secret_value()
        ):
            raise ValueError(
                f"security_protocol {self.security_protocol} needs MLBUS_KAFKA_SASL_USERNAME"
                " and MLBUS_KAFKA_SASL_PASSWORD"
            )
        return self

    @property
    def topics(self) -> Topics:
        return Topics.with_prefix(self.topic_prefix)

    @model_validator(mode="after")
    def _idempotence_needs_all_acks(self) -> KafkaSettings:
        if self.producer_idempotence and self.producer_acks != "all":
            raise ValueError("MLBUS_KAFKA_PRODUCER_IDEMPOTENCE needs MLBUS_KAFKA_PRODUCER_ACKS=all")
        return self


def load_spec_setting(value: object) -> DatasetSpec:
    """A spec setting: a path to a YAML/JSON spec file, or empty for the house-price default."""
    from services.common.specfile import load_spec  # local import: keeps settings import light

    if value in (None, ""):
        return HOUSE_PRICES
    if isinstance(value, DatasetSpec):
        return value
    return load_spec(Path(str(value)))


# A `spec` setting: the path of a YAML/JSON spec file (empty: the house-price spec), read and
# checked when the settings load, so a bad spec stops the service at start. NoDecode: the
# environment's text is the path itself, not JSON.
SpecSetting = Annotated[DatasetSpec, NoDecode, BeforeValidator(load_spec_setting)]

# A TCP port to listen on; 0 lets the system choose (tests do).
Port = Annotated[int, Field(ge=0, le=65535)]


def _http_base_url(value: str) -> str:
    if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", value):
        raise ValueError("must be an http:// or https:// URL")  # no echo: it may hold a password
    return value


# The base URL of another service's HTTP API, such as the registry's.
HttpBaseUrl = Annotated[str, AfterValidator(_http_base_url)]


class ServiceSettings(BaseSettings):
    """The one base of every service's `Settings` (in its `config.py`).

    A subclass names its `service` and reads MLBUS_<SERVICE>_* variables:

        class Settings(ServiceSettings):
            model_config = SettingsConfigDict(env_prefix="MLBUS_INGEST_")
            service: ClassVar[str] = "ingest"
            port: Port = 8001

    It fails fast: a value out of range stops the service at start with a message that does
    not quote the value (it may be a secret), and a keyword that names no setting is refused
    rather than ignored. Secrets are SecretStr fields.
    """

    model_config = SettingsConfigDict(extra="forbid", hide_input_in_errors=True)

    service: ClassVar[str]
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    host: str = Field(default="127.0.0.1", min_length=1)
    port: Port

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        """A service's env prefix is MLBUS_<SERVICE>_: checked when its module is imported."""
        super().__pydantic_init_subclass__(**kwargs)
        expected = f"MLBUS_{cls.service.upper()}_"
        if cls.model_config.get("env_prefix") != expected:
            raise TypeError(f"{cls.__qualname__} must read env_prefix {expected!r}")

    @property
    def group_id(self) -> str:
        """The service's Kafka consumer group: `<topic prefix>mlbus-<service>`, so stacks that
        share a broker under different prefixes never share a group."""
        return f"{self.kafka.topic_prefix}mlbus-{self.service}"


MODEL_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")  # as contracts.ModelCard.model_name


def model_name_for(spec: DatasetSpec, configured: str) -> str:
    """The model a service trains or serves: `configured`, or the spec's name when empty;
    ValueError (the service stops at start) for a name the registry would refuse."""
    name = configured or spec.name
    if not MODEL_NAME.match(name):
        raise ValueError(f"model_name {name!r} must match {MODEL_NAME.pattern}")
    return name


# Values people leave in example env files; a secret equal to one of them is not a secret.
SECRET_PLACEHOLDERS = frozenset({"", "changeme", "change-me", "secret", "token", "placeholder"})
# A secret must be long and drawn from more than a handful of characters: `openssl rand -hex 16`
# (32 characters, 128 bits) just passes. Eight distinct characters rule out words and repeats
# ("password" has seven); 32 random hex digits have fewer than eight with odds of about 4e-8.
MIN_SECRET_LENGTH = 32
MIN_SECRET_DISTINCT_CHARACTERS = 8
HOW_TO_MAKE_ONE = "make one with `openssl rand -hex 32`"


def secret_weakness(secret: str) -> str | None:
    """Why `secret` is too weak to guard anything, or None; never quotes the secret."""
    if secret.strip().lower() in SECRET_PLACEHOLDERS:
        return "is empty or a placeholder"
    if len(secret) < MIN_SECRET_LENGTH:
        return f"has {len(secret)} characters, fewer than the {MIN_SECRET_LENGTH} needed"
    distinct = len(set(secret))
    if distinct < MIN_SECRET_DISTINCT_CHARACTERS:
        return (
            f"uses only {distinct} different characters"
            f" (at least {MIN_SECRET_DISTINCT_CHARACTERS} are needed)"
        )
    return None


def require_real_secret(value: SecretStr, env_name: str) -> SecretStr:
    """Fail fast at start-up when a secret is empty, a placeholder, short or from few characters."""
    weakness = secret_weakness(value.get_secret_value())
    if weakness is not None:
        raise ValueError(f"{env_name} {weakness}: it must be a real secret; {HOW_TO_MAKE_ONE}")
    return value
