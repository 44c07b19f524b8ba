"""Predictor settings, read from MLBUS_PREDICTOR_* environment variables."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from contracts import HOUSE_PRICES
from services.common.settings import (
    HttpBaseUrl,
    Port,
    ServiceSettings,
    SpecSetting,
    model_name_for,
)


class Settings(ServiceSettings):
    """`spec` (MLBUS_PREDICTOR_SPEC, a spec file path) is what model inputs are checked against."""

    model_config = SettingsConfigDict(env_prefix="MLBUS_PREDICTOR_")
    service: ClassVar[str] = "predictor"

    port: Port = 8004
    spec: SpecSetting = HOUSE_PRICES
    registry_url: HttpBaseUrl = "http://127.0.0.1:8003"
    registry_timeout_seconds: float = Field(default=30.0, gt=0)
    model_name: str = Field(default="", description="empty: the dataset spec's name")
    # Large batches amortise the per-batch work; light load still gets small ones (timeout).
    batch_max_records: int = Field(default=5000, ge=1)
    # Small, so a lone request is not held back waiting for company. faststream also sleeps
    # this long after a poll that found nothing: 10 ms put p99 at 1,000 requests/s at 21 ms,
    # 5 ms at 16 ms.
    batch_timeout_ms: int = Field(default=5, ge=0)
    # Batches whose results may await their acks while the next batch is scored; bounds the
    # memory held for unacknowledged results.
    pipeline_depth: int = Field(default=2, ge=1)
    # Least time between two offset commits: the offsets acknowledged meanwhile go in one.
    # Committing every batch cost the broker a write per batch (at 1,000 requests/s, as many
    # commit requests as produce requests); a crash redelivers at most this much more.
    commit_interval_ms: int = Field(default=200, ge=0)
    # Retry period while no model serves (registry down, or no champion yet).
    poll_seconds: float = Field(default=3.0, gt=0)
    # Period of the safety-net champion check once a model serves (events drive reloads).
    recheck_seconds: float = Field(default=60.0, gt=0)
    # How long one batch waits for a first model before it is handed back to Kafka (never
    # dropped): shorter than Kafka's max.poll.interval so the consumer stays in its group.
    model_wait_seconds: float = Field(default=30.0, gt=0)
    # How long a batch waits, the first time it meets a data set the predictor does not know,
    # for the spec feed to learn it (ingest may learn it first); then its requests are
    # dead-lettered, and that name is not waited for again.
    unknown_dataset_wait_seconds: float = Field(default=3.0, ge=0)
    # Share of requests also scored by the challenger (when one exists), chosen by a hash of
    # the record id: the same records on every instance and on every redelivery.
    shadow_fraction: float = Field(default=1.0, ge=0.0, le=1.0)
    # Longest request answered; a longer one is dead-lettered. Its prediction echoes its
    # features and adds up to a few hundred bytes: it must fit in one Kafka message (Kafka's
    # message.max.bytes is 1,048,588 by default), or its send would fail on every retry.
    max_request_bytes: int = Field(default=1_000_000, ge=1024)
    # Largest number of records one POST /predict may carry, and its longest body (413 while
    # it streams in): a 99 MB body took 1.1 GB to parse before its 413.
    http_max_records: int = Field(default=10_000, ge=1)
    http_max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)

    @model_validator(mode="after")
    def _resolve_model_name(self) -> Settings:
        """The model is named after the spec it serves, as the trainer names it."""
        self.model_name = model_name_for(self.spec, self.model_name)
        return self
