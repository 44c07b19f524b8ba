"""ONNX artifacts addressed by their sha256; here, on disk: written atomically, verified on read.

services.registry.s3_artifacts keeps them in an S3-compatible bucket instead.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Protocol

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ArtifactCorrupted(RuntimeError):
    """A stored artifact whose bytes no longer hash to its name."""


class ArtifactUnavailable(RuntimeError):
    """The storage holding the artifacts did not answer (after its retries): try again later."""


class ArtifactStorage(Protocol):
    """Content-addressed artifact bytes: `put` returns their sha256, `get` verifies it.

    `get` raises ArtifactCorrupted when the stored bytes fail their hash, FileNotFoundError
    when there are none, and ArtifactUnavailable when the storage does not answer.
    """

    def put(self, data: bytes) -> str: ...

    def get(self, sha256: str) -> bytes: ...


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ArtifactStore:
    """`<directory>/<sha256>.onnx`; identical bytes are stored once."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def path_of(self, sha256: str) -> Path:
        if not _SHA256.match(sha256):  # the name comes from our own DB, but never trust paths
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        return self.directory / f"{sha256}.onnx"

    def put(self, data: bytes) -> str:
        """Store `data` (temp file, fsync, rename: readers never see half a file); its sha256."""
        digest = sha256_of(data)
        target = self.path_of(digest)
        if target.exists() and self._intact(target, digest):
            return digest
        fd, temp_name = tempfile.mkstemp(dir=self.directory, prefix=".upload-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as temp:
                temp.write(data)
                temp.flush()
                os.fsync(temp.fileno())
            os.replace(temp_name, target)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise
        self._fsync_directory()  # makes the rename itself survive a power loss
        return digest

    def get(self, sha256: str) -> bytes:
        """The artifact's bytes; ArtifactCorrupted if they do not hash to `sha256`."""
        data = self.path_of(sha256).read_bytes()
        if sha256_of(data) != sha256:
            raise ArtifactCorrupted(f"artifact {sha256} on disk does not match its sha256")
        return data

    def _fsync_directory(self) -> None:
        with contextlib.suppress(OSError):  # not every platform can open a directory
            fd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def _intact(self, path: Path, sha256: str) -> bool:
        return sha256_of(path.read_bytes()) == sha256
