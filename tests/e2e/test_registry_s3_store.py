"""The registry with its artifacts in a real S3-compatible bucket (SeaweedFS), as processes.

Uploads go through the registry's HTTP API, downloads through the predictor's RegistryClient
(the path a predictor takes, checked against X-Content-SHA256): a round trip, a multipart
upload, an object tampered with in the bucket, and the S3 server killed and restarted while
the registry is reading an artifact from it.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from contracts import ModelVersion, Topics
from mlbus.brokers import Broker
from mlbus.bus import ensure_topics
from mlbus.runner import Stack, StackConfig
from services.predictor.registry_client import ArtifactIntegrityError, RegistryClient
from tests.e2e.seaweedfs_server import SeaweedS3, SlowRelay
from tests.unit.registry.registry_samples import make_spec_model

pytestmark = pytest.mark.e2e
NAME = "house-prices"
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    server = SeaweedS3(tmp_path_factory.mktemp("seaweedfs"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def start_registry(broker: Broker, workdir: Path, env: dict[str, str]) -> Stack:
    config = StackConfig.with_free_ports(
        broker.bootstrap_servers,
        workdir,
        topic_prefix=f"t{uuid.uuid4().hex[:10]}.",
        extra_env=env,
    )
    stack = Stack(config)
    stack.log_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(
        ensure_topics(config.bootstrap_servers, [Topics.with_prefix(config.topic_prefix).models])
    )
    stack.start_service("registry")
    try:
        stack.wait_service_ready("registry", timeout=90)
    except BaseException:
        stack.stop()
        raise
    return stack


@pytest.fixture(scope="module")
def s3_registry(
    broker: Broker, seaweed: SeaweedS3, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Stack, str]]:
    """A registry storing in a fresh bucket, in parts of 5 MiB (S3's smallest)."""
    bucket = seaweed.new_bucket()
    env = {**seaweed.registry_env(bucket), "MLBUS_REGISTRY_S3_PART_BYTES": str(5 * MIB)}
    stack = start_registry(broker, tmp_path_factory.mktemp("registry-s3"), env)
    try:
        yield stack, bucket
    finally:
        stack.stop()


def padded_model(pad_bytes: int, rmse: float = 10.0) -> tuple[str, bytes]:
    """A valid spec model carrying `pad_bytes` of random weights (so every artifact differs)."""
    card, artifact = make_spec_model(rmse=rmse)
    model = onnx.load_model_from_string(artifact)
    weights = np.random.default_rng().random(pad_bytes // 4, dtype=np.float32)
    model.graph.initializer.append(numpy_helper.from_array(weights, "padding"))
    return card.model_dump_json(), model.SerializeToString()


def upload(stack: Stack, card: str, artifact: bytes) -> ModelVersion:
    response = httpx.post(
        f"{stack.config.url('registry')}/models/{NAME}/versions",
        files={"artifact": ("model.onnx", artifact)},
        data={"card": card},
        headers={"Authorization": f"Bearer {stack.config.registry_token}"},
        timeout=120,
    )
    assert response.status_code == 201, response.text
    return ModelVersion.model_validate_json(response.content)


def download(stack: Stack, version: ModelVersion, timeout: float = 30.0) -> bytes:
    async def fetch() -> bytes:
        client = RegistryClient(stack.config.url("registry"), timeout_seconds=timeout)
        try:
            return await client.download(version)
        finally:
            await client.aclose()

    return asyncio.run(fetch())


def test_round_trip_through_the_bucket(s3_registry: tuple[Stack, str], seaweed: SeaweedS3) -> None:
    stack, bucket = s3_registry
    card, artifact = padded_model(64 * 1024)
    stored = upload(stack, card, artifact)
    assert download(stack, stored) == artifact
    held = seaweed.client().get_object(Bucket=bucket, Key=f"artifacts/{stored.sha256}.onnx")
    assert held["Body"].read() == artifact
    assert held["Metadata"] == {"sha256": stored.sha256}
    assert not any((stack.config.workdir / "registry").rglob("*.onnx"))  # nothing on disk


def test_a_large_artifact_goes_up_in_parts(
    s3_registry: tuple[Stack, str], seaweed: SeaweedS3
) -> None:
    stack, bucket = s3_registry
    card, artifact = padded_model(12 * MIB)  # 5 + 5 + a little over 2 MiB
    stored = upload(stack, card, artifact)
    client = seaweed.client()
    head = client.head_object(Bucket=bucket, Key=f"artifacts/{stored.sha256}.onnx")
    assert head["ETag"].strip('"').endswith("-3"), head["ETag"]  # a multipart object's ETag
    assert head["ContentLength"] == len(artifact)
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert download(stack, stored) == artifact


def test_an_object_tampered_with_in_the_bucket_is_refused(
    s3_registry: tuple[Stack, str], seaweed: SeaweedS3
) -> None:
    stack, bucket = s3_registry
    card, artifact = padded_model(32 * 1024)
    stored = upload(stack, card, artifact)
    tampered = bytearray(artifact)
    tampered[-1] ^= 0xFF
    key = f"artifacts/{stored.sha256}.onnx"
    seaweed.client().put_object(Bucket=bucket, Key=key, Body=bytes(tampered))

    answer = httpx.get(
        f"{stack.config.url('registry')}/models/{NAME}/versions/{stored.version}/artifact"
    )
    assert answer.status_code == 409
    assert "artifact_corrupted" in answer.text
    with pytest.raises(ArtifactIntegrityError):
        download(stack, stored)


def test_the_s3_server_restarts_mid_download(
    broker: Broker, seaweed: SeaweedS3, tmp_path: Path
) -> None:
    """The registry reads through a slow relay; SeaweedFS is killed with 4 MiB read and
    started again: the registry resumes where it broke off, and the bytes check out."""
    bucket = seaweed.new_bucket()
    relay = SlowRelay(seaweed.ports["s3"], bytes_per_second=200 * MIB)
    env = {
        **seaweed.registry_env(bucket, endpoint=relay.endpoint),
        "MLBUS_REGISTRY_S3_READ_RETRY_SECONDS": "180",
    }
    stack = start_registry(broker, tmp_path, env)
    try:
        card, artifact = padded_model(16 * MIB)
        stored = upload(stack, card, artifact)

        restarted = threading.Event()
        mark = relay.relayed

        def restart_once(total: int) -> None:
            if total - mark >= 4 * MIB and not restarted.is_set():
                restarted.set()
                threading.Thread(target=seaweed.restart, daemon=True).start()

        relay.rate = 4 * MIB  # about 4 s for the artifact: the kill lands in the middle
        relay.on_bytes = restart_once
        assert download(stack, stored, timeout=240) == artifact
        assert restarted.is_set()
        assert seaweed.starts == 2
        assert "resuming" in stack.log_tail("registry", lines=200)
    finally:
        relay.on_bytes = None
        relay.close()
        stack.stop()
        seaweed.wait_ready(120)  # the module's other tests share this server
