"""Settings of the ingest service (env prefix MLBUS_INGEST_)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from contracts import HOUSE_PRICES
from services.common.settings import Port, ServiceSettings, SpecSetting


class Settings(ServiceSettings):
    """`spec` is read from the path in MLBUS_INGEST_SPEC (empty: the house-price spec)."""

    model_config = SettingsConfigDict(env_prefix="MLBUS_INGEST_")
    service: ClassVar[str] = "ingest"

    port: Port = 8001
    spec: SpecSetting = HOUSE_PRICES
    # Idempotency: a record id routed within this many seconds is not routed again (0: off).
    dedup_horizon_seconds: float = Field(default=3600.0, ge=0)
    # Memory bound of the idempotency window: beyond it the oldest ids are forgotten first.
    dedup_max_ids: int = Field(default=1_000_000, ge=1)
    # Kafka messages validated and published together (a batch subscriber's max_records).
    batch_max_records: int = Field(default=5000, ge=1)
    batch_timeout_ms: int = Field(default=20, ge=1)
    # Also publish RecordIngestedV2 (contracts.v2) to ingest.records.v2, beside v1.
    publish_v2: bool = False
    # POST /records: the longest body (413 while it streams in) and the most records in one.
    # Each record of a body can become an event: these bound the work and memory of a request.
    http_max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    http_max_records: int = Field(default=10_000, ge=1)
