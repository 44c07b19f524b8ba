"""The artifact store the settings choose: a local directory (default) or an S3 bucket."""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.registry.artifacts import ArtifactStorage, ArtifactStore

if TYPE_CHECKING:
    from services.registry.config import Settings


def open_artifact_store(settings: Settings) -> ArtifactStorage:
    """The configured store, checked once at start: a missing bucket stops the registry."""
    if settings.artifact_store == "local":
        return ArtifactStore(settings.artifact_dir)
    # Imported here: boto3 takes a while to load, and the default store never needs it.
    from services.registry.s3_artifacts import S3ArtifactStore

    store = S3ArtifactStore.from_settings(settings.s3)
    store.check_bucket()
    return store
