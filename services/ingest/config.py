"""Settings of the ingest service (env prefix MLBUS_INGEST_)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.common.settings import KafkaSettings, SpecSettingMixin


class Settings(SpecSettingMixin):
    """`spec` is read from the path in MLBUS_INGEST_SPEC (empty: the house-price spec)."""

    model_config = SettingsConfigDict(env_prefix="MLBUS_INGEST_", extra="ignore")

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    host: str = "127.0.0.1"
    port: int = 8001

    @property
    def group_id(self) -> str:
        return f"{self.kafka.topic_prefix}mlbus-ingest"
