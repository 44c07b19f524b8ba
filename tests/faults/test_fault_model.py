"""Fault 3: a promoted artifact corrupted or deleted on disk, the registry down during a
promotion.

The predictor must keep serving the old model and lose no request.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

import httpx
import onnx
import pytest

from contracts import HOUSE_PRICES, ModelPromoted, Topics
from mlbus.bus import publish_all
from mlbus.runner import Stack
from tests.faults.fault_helpers import kill_hard, predicted_versions, stream_and_account
from tests.support.accounting import read_all

pytestmark = pytest.mark.e2e

MODEL = HOUSE_PRICES.name
_LOADS = re.compile(
    r'^mlbus_predictor_model_loads_total\{model="[^"]+",outcome="(\w+)"\} (\S+)$', re.M
)


@pytest.mark.parametrize("damage", ["corrupted", "deleted"])
async def test_a_damaged_champion_leaves_the_old_model_serving(
    trained_stack: Stack, registry_client: httpx.Client, damage: str
) -> None:
    config, registry = trained_stack.config, registry_client
    old = registry.get(f"/models/{MODEL}/aliases/champion").json()
    artifact = _variant(registry.get(f"/models/{MODEL}/versions/{old['version']}/artifact").content)
    metrics = old["card"]["metrics"]
    card = {**old["card"], "metrics": {**metrics, "rmse": metrics["rmse"] / 2}}  # sure to win
    # The version being served: an earlier damaged champion stays refused even once repaired.
    serving = _serving_version(config.url("predictor"))
    predictor = trained_stack.processes["predictor"]
    os.kill(predictor.pid, signal.SIGSTOP)  # so it cannot fetch the new champion before we break it
    try:
        response = registry.post(
            f"/models/{MODEL}/versions",
            headers={"Authorization": f"Bearer {config.registry_token}"},
            files={"artifact": ("model.onnx", artifact, "application/octet-stream")},
            data={"card": json.dumps(card)},
        )
        assert response.status_code == 201, response.text
        new = response.json()
        assert "champion" in new["aliases"], new
        stored = _artifact_path(config.workdir, new["sha256"])
        if damage == "deleted":
            stored.unlink()
        else:
            stored.write_bytes(b"\x00corrupted" + stored.read_bytes()[10:])
    finally:
        os.kill(predictor.pid, signal.SIGCONT)
    try:
        result = await stream_and_account(trained_stack, f"{damage}-", 200, seed=31)
        assert result.lost == [], result.summary()
        versions = await predicted_versions(trained_stack, f"{damage}-")
        assert versions == {serving}, f"expected only v{serving}: {versions}"
        text = httpx.get(config.url("predictor") + "/metrics").text
        print(f"fault 3 ({damage} champion v{new['version']}): loads {_LOADS.findall(text)}")
        assert f'mlbus_predictor_model_version{{model="{MODEL}"}} {serving}.0' in text
        assert "unusable" in trained_stack.log_tail("registry", 200)
        refused = dict(_LOADS.findall(text)).get("refused", "0")
        assert float(refused) >= 1, f"the {damage} model was not counted as refused: {text}"
        models_topic = Topics.with_prefix(config.topic_prefix).models
        raw = await read_all(config.bootstrap_servers, [models_topic], timeout=10)
        events = [json.loads(m) for m in raw[models_topic]]
        assert any(
            e.get("kind") == "model.refused.v1" and e.get("version") == new["version"]
            for e in events
        ), f"no ModelRefused for the {damage} champion"
    finally:
        stored.write_bytes(artifact)  # repaired: later faults may restart the predictor


async def test_the_registry_down_during_a_promotion_leaves_the_old_model_serving(
    trained_stack: Stack,
) -> None:
    config = trained_stack.config
    serving = _serving_version(config.url("predictor"))
    kill_hard(trained_stack, "registry")
    started = time.monotonic()
    try:
        promoted = ModelPromoted(
            model_name=MODEL, version=serving + 100, sha256="0" * 64, reason="fault test"
        )
        topics = Topics.with_prefix(config.topic_prefix)
        await publish_all(config.bootstrap_servers, topics.models, [promoted])
        result = await stream_and_account(trained_stack, "registry-down-", 200, seed=31)
        assert result.lost == [], result.summary()
        assert await predicted_versions(trained_stack, "registry-down-") == {serving}
        log = (trained_stack.log_dir / "predictor.log").read_text(errors="replace")
        assert f"for {MODEL} v{serving + 100}" in log  # it saw the promotion ...
        assert "registry unreachable" in log  # ... and could not act on it
    finally:
        trained_stack.start_service("registry")
    trained_stack.wait_service_ready("registry")
    print(
        f"fault 3 (registry down during a promotion): 200 requests served by v{serving};"
        f" registry back after {time.monotonic() - started:.1f}s"
    )
    assert _serving_version(config.url("predictor")) == serving


def _variant(onnx_bytes: bytes) -> bytes:
    """The same model with another doc string: different bytes, so a different artifact."""
    model = onnx.load_from_string(onnx_bytes)
    model.doc_string = f"{model.doc_string} (fault test variant)"
    variant: bytes = model.SerializeToString()
    return variant


def _artifact_path(workdir: Path, sha256: str) -> Path:
    found = [path for path in (workdir / "registry").rglob(f"{sha256}*") if path.is_file()]
    assert len(found) == 1, found
    return found[0]


def _serving_version(predictor_url: str) -> int:
    text = httpx.get(predictor_url + "/metrics", timeout=5).text
    match = re.search(rf'^mlbus_predictor_model_version\{{model="{MODEL}"\}} (\S+)$', text, re.M)
    assert match is not None, text[-1000:]
    return int(float(match[1]))
