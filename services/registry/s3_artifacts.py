"""Artifacts in an S3-compatible bucket, addressed by sha256: uploaded in parts, verified.

boto3 is synchronous; the registry calls its store from worker threads already (the upload
runs under asyncio.to_thread, downloads in FastAPI's thread pool), so a sync client blocks no
event loop, and boto3 is the most widely used and maintained S3 client, with every call we
need (multipart parts with Content-MD5, ranged and conditional reads).

Every part is sent with its Content-MD5, so the server refuses a part damaged in transit;
once uploaded the object is read back and hashed, and every read is hashed again: bytes that
do not hash to their name never reach a caller. A read cut short (the server restarting, a
dropped connection) resumes where it stopped, pinned to the same object by its ETag.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from services.registry.artifacts import ArtifactCorrupted, ArtifactUnavailable, sha256_of

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

    from services.registry.s3_settings import S3Settings

log = logging.getLogger(__name__)

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_READ_CHUNK_BYTES = 1024 * 1024
# What a broken transfer looks like from boto3 (which wraps urllib3's errors in its own).
_TRANSFER_ERRORS = (BotoCoreError, OSError)
_MISSING = {"NoSuchKey", "404", "NotFound"}


def make_client(settings: S3Settings) -> S3Client:
    """A thread-safe boto3 client for the configured endpoint."""
    key_id, secret = settings.access_key_id, settings.secret_access_key
    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": settings.addressing_style},
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=settings.timeout_seconds,
        read_timeout=settings.timeout_seconds,
        # Checksums only where S3 requires them: not every S3-compatible server takes the
        # newer aws-chunked trailers, and we send Content-MD5 and hash everything ourselves.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    return boto3.session.Session().client(
        "s3",
        endpoint_url=settings.endpoint_url,
        region_name=settings.region,
        aws_access_key_id=key_id.get_secret_value() if key_id else None,
        aws_secret_access_key=secret.get_secret_value() if secret else None,
        config=config,
    )


def _md5_base64(data: bytes | memoryview) -> str:
    # Content-MD5 is what S3 checks a part against; MD5 here is an integrity check, not a seal.
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


@dataclass
class _Download:
    """The bytes read so far and the ETag of the object they came from."""

    data: bytearray = field(default_factory=bytearray)
    etag: str | None = None


class S3ArtifactStore:
    """`s3://<bucket>/<prefix><sha256>.onnx`; identical bytes are stored once."""

    def __init__(
        self,
        client: S3Client,
        bucket: str,
        *,
        prefix: str = "artifacts/",
        part_bytes: int = 8 * 1024 * 1024,
        read_retry_seconds: float = 30.0,
    ) -> None:
        if not bucket:
            raise ValueError(
                "MLBUS_REGISTRY_S3_BUCKET is required when MLBUS_REGISTRY_ARTIFACT_STORE=s3"
            )
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.part_bytes = part_bytes
        self.read_retry_seconds = read_retry_seconds

    @classmethod
    def from_settings(cls, settings: S3Settings) -> S3ArtifactStore:
        return cls(
            make_client(settings),
            settings.bucket,
            prefix=settings.prefix,
            part_bytes=settings.part_bytes,
            read_retry_seconds=settings.read_retry_seconds,
        )

    def __repr__(self) -> str:
        return f"S3ArtifactStore(s3://{self.bucket}/{self.prefix})"

    def check_bucket(self) -> None:
        """Fail fast (RuntimeError) when the bucket is missing or these keys may not use it."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (ClientError, *_TRANSFER_ERRORS) as exc:
            raise RuntimeError(
                f"artifact bucket {self.bucket!r} at {self.client.meta.endpoint_url}"
                f" is not usable: {exc}"
            ) from exc

    def key_of(self, sha256: str) -> str:
        if not _SHA256.match(sha256):  # the name comes from our own DB, but never trust keys
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        return f"{self.prefix}{sha256}.onnx"

    # --- writes ----------------------------------------------------------------------------

    def put(self, data: bytes) -> str:
        """Store `data` (in parts above part_bytes), read it back to verify; its sha256."""
        digest = sha256_of(data)
        key = self.key_of(digest)
        if self._exists(key) and self._intact(key, digest):
            return digest
        if len(data) <= self.part_bytes:
            self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=data,
                ContentMD5=_md5_base64(data),
                Metadata={"sha256": digest},
            )
        else:
            self._put_in_parts(key, data, digest)
        if not self._intact(key, digest):
            raise ArtifactCorrupted(f"artifact {digest} read back from the bucket differs")
        return digest

    def _put_in_parts(self, key: str, data: bytes, digest: str) -> None:
        """A multipart upload, aborted on any failure: no half object, no orphaned parts."""
        started = self.client.create_multipart_upload(
            Bucket=self.bucket, Key=key, Metadata={"sha256": digest}
        )
        upload_id = started["UploadId"]
        try:
            parts = [
                self._put_part(key, upload_id, number, memoryview(data)[start:end])
                for number, (start, end) in enumerate(self._part_ranges(len(data)), start=1)
            ]
            self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except BaseException:
            try:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            except (ClientError, *_TRANSFER_ERRORS) as exc:  # the bucket's lifecycle cleans up
                log.warning("registry: multipart upload %s not aborted: %s", upload_id, exc)
            raise

    def _part_ranges(self, size: int) -> list[tuple[int, int]]:
        return [
            (start, min(start + self.part_bytes, size)) for start in range(0, size, self.part_bytes)
        ]

    def _put_part(
        self, key: str, upload_id: str, number: int, chunk: memoryview
    ) -> CompletedPartTypeDef:
        sent = self.client.upload_part(
            Bucket=self.bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=number,
            Body=bytes(chunk),
            ContentMD5=_md5_base64(chunk),
        )
        return {"ETag": sent["ETag"], "PartNumber": number}

    # --- reads -----------------------------------------------------------------------------

    def get(self, sha256: str) -> bytes:
        """The artifact's bytes; ArtifactCorrupted if they do not hash to `sha256`."""
        data = self._read(self.key_of(sha256))
        if sha256_of(data) != sha256:
            raise ArtifactCorrupted(f"artifact {sha256} in the bucket does not match its sha256")
        return data

    def _exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _error_code(exc) in _MISSING:
                return False
            raise
        return True

    def _intact(self, key: str, sha256: str) -> bool:
        return sha256_of(self._read(key)) == sha256

    def _read(self, key: str) -> bytes:
        """The object's bytes, resuming a cut transfer until read_retry_seconds pass."""
        download = _Download()
        deadline = time.monotonic() + self.read_retry_seconds
        pause = 0.2
        while True:
            try:
                self._read_into(key, download)
                return bytes(download.data)
            except ClientError as exc:
                code = _error_code(exc)
                if code in _MISSING:
                    raise FileNotFoundError(f"s3://{self.bucket}/{key}") from exc
                if code == "PreconditionFailed":  # replaced while we read: start over
                    download = _Download()
                    continue
                if code == "InvalidRange":  # it broke off after the last byte: all is here
                    return bytes(download.data)
                if _status(exc) < 500 and code != "SlowDown":  # asking again will not help
                    raise ArtifactUnavailable(f"s3://{self.bucket}/{key}: {exc}") from exc
                failure: Exception = exc
            except _TRANSFER_ERRORS as exc:
                failure = exc
            if time.monotonic() + pause > deadline:
                raise ArtifactUnavailable(
                    f"s3://{self.bucket}/{key}: read failed for {self.read_retry_seconds:.0f}s"
                    f" ({len(download.data)} bytes in): {failure}"
                ) from failure
            log.warning(
                "registry: reading %s broke off after %d bytes (%s); resuming",
                key,
                len(download.data),
                failure,
            )
            time.sleep(pause)
            pause = min(pause * 2, 2.0)

    def _read_into(self, key: str, download: _Download) -> None:
        """Append the rest of the object to `download` (one GET, ranged when resuming)."""
        if download.etag is None:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        else:
            response = self.client.get_object(
                Bucket=self.bucket,
                Key=key,
                Range=f"bytes={len(download.data)}-",
                IfMatch=download.etag,
            )
        download.etag = download.etag or response["ETag"]
        body = response["Body"]
        # Not `with body`: botocore's StreamingBody enters as its raw urllib3 stream, which
        # has no iter_chunks.
        try:
            for chunk in body.iter_chunks(_READ_CHUNK_BYTES):
                download.data.extend(chunk)
        finally:
            body.close()
