"""Where the registry's S3-compatible bucket is, read from MLBUS_REGISTRY_S3_* variables.

Light on purpose (no S3 client here): the registry's Settings nest it as they nest Kafka's.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

MIB = 1024 * 1024
# S3 refuses parts under 5 MiB (except the last) and uploads of more than 10,000 parts.
MIN_PART_BYTES = 5 * MIB


class S3Settings(BaseSettings):
    """The bucket used when MLBUS_REGISTRY_ARTIFACT_STORE=s3."""

    model_config = SettingsConfigDict(
        env_prefix="MLBUS_REGISTRY_S3_", extra="ignore", hide_input_in_errors=True
    )

    endpoint_url: str | None = Field(
        default=None, description="e.g. http://seaweedfs:8333; unset: Amazon S3 itself"
    )
    bucket: str = Field(default="", description="the bucket; it must exist already")
    prefix: str = Field(default="artifacts/", description="prepended to every object key")
    region: str = "us-east-1"
    addressing_style: Literal["path", "virtual", "auto"] = Field(
        default="path", description="path-style URLs suit most S3-compatible servers"
    )
    # Unset: boto3's own chain (instance or pod role, ~/.aws, AWS_* variables).
    access_key_id: SecretStr | None = None
    secret_access_key: SecretStr | None = None
    part_bytes: int = Field(
        default=8 * MIB, ge=MIN_PART_BYTES, description="artifacts above this go up in parts"
    )
    read_retry_seconds: float = Field(
        default=30.0,
        gt=0,
        description="how long a download keeps resuming while the bucket does not answer",
    )
    timeout_seconds: float = Field(default=10.0, gt=0, description="connect and read timeout")
