"""Registry settings, read from MLBUS_REGISTRY_* environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from contracts import HOUSE_PRICES
from services.common.settings import Port, ServiceSettings, SpecSetting, require_real_secret
from services.registry.s3_settings import S3Settings


class Settings(ServiceSettings):
    """Metadata in SQLite under `data_dir` unless `database_url` names PostgreSQL."""

    model_config = SettingsConfigDict(env_prefix="MLBUS_REGISTRY_")
    service: ClassVar[str] = "registry"

    port: Port = 8003
    spec: SpecSetting = HOUSE_PRICES
    data_dir: Path = Path("var/registry")
    database_url: SecretStr | None = Field(
        default=None,
        description="postgresql://user:password@host:port/db or sqlite:///path;"
        " default: SQLite in data_dir",
    )
    spec_check: bool = Field(
        default=False,
        description="refuse models whose inputs are not one per feature of `spec`"
        " (MLBUS_REGISTRY_SPEC, a spec file; house prices by default)",
    )
    token: SecretStr = Field(description="bearer token required to upload versions")
    promotion_margin: float = Field(
        default=0.0, ge=0.0, lt=1.0, description="relative RMSE gain a challenger needs"
    )
    max_artifact_bytes: int = Field(default=256 * 1024 * 1024, gt=0)
    artifact_store: Literal["local", "s3"] = Field(
        default="local",
        description="local: data_dir/artifacts; s3: the bucket of MLBUS_REGISTRY_S3_*",
    )
    s3: S3Settings = Field(default_factory=S3Settings)
    publish_timeout_seconds: float = Field(
        default=5.0, gt=0, description="how long an upload waits for its events to be published"
    )
    outbox_retry_seconds: float = Field(
        default=2.0, gt=0, description="pause between attempts to publish pending events"
    )

    @field_validator("token")
    @classmethod
    def _token_is_not_a_placeholder(cls, value: SecretStr) -> SecretStr:
        return require_real_secret(value, "MLBUS_REGISTRY_TOKEN")

    @property
    def database_path(self) -> Path:
        return self.data_dir / "registry.sqlite3"

    @property
    def database(self) -> str:
        """The database URL to open."""
        if self.database_url is not None and self.database_url.get_secret_value().strip():
            return self.database_url.get_secret_value().strip()
        return f"sqlite:///{self.database_path}"

    @property
    def artifact_dir(self) -> Path:
        return self.data_dir / "artifacts"
