"""The predictor on a real broker, as real processes: scale-out, hot swap, refusal, shadow."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import onnx
import pytest

from contracts import PredictionRequested
from mlbus.brokers import Broker
from mlbus.bus import publish_all, read_topic
from mlbus.datagen import RecordGenerator
from mlbus.runner import Stack, StackConfig, free_port
from tests.e2e.predictor_support import upload_model
from tests.support.polling import eventually_sync
from tests.unit.predictor.predictor_fixtures import (
    CATEGORICAL,
    tiny_model_bytes,
)

pytestmark = pytest.mark.e2e


class Predictors:
    """The stack's predictor and a second one in the same consumer group."""

    def __init__(self, stack: Stack, second: subprocess.Popen[bytes], second_url: str) -> None:
        self.stack = stack
        self.second = second
        self.urls = [stack.config.url("predictor"), second_url]

    def metric_total(self, url: str, prefix: str) -> float:
        lines = httpx.get(url + "/metrics").text.splitlines()
        return sum(float(line.split()[-1]) for line in lines if line.startswith(prefix))

    def wait_for(self, key: str, value: int, timeout: float = 30.0) -> None:
        def seen() -> dict[str, object]:
            self.stack.check_alive()
            return {url: httpx.get(url + "/model").json().get(key) for url in self.urls}

        eventually_sync(
            seen,
            what=f"{key} = {value} on every predictor",
            until=lambda found: set(found.values()) == {value},
            timeout=timeout,
            interval=0.1,
        )


@pytest.fixture(scope="module")
def predictors(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Predictors]:
    workdir = tmp_path_factory.mktemp("predictor-e2e")
    config = StackConfig.with_free_ports(
        broker.bootstrap_servers,
        workdir,
        topic_prefix=f"t{uuid.uuid4().hex[:10]}.",
        # The registry's own spec check is off: the predictor must defend itself regardless
        # (and the two-feature test models are a subset of the spec, which it accepts).
        extra_env={"MLBUS_PREDICTOR_POLL_SECONDS": "0.2", "MLBUS_REGISTRY_SPEC_CHECK": "false"},
    )
    with Stack(config) as stack:
        port = free_port()
        env = {**os.environ, **config.env(), "MLBUS_PREDICTOR_PORT": str(port)}
        with (workdir / "logs" / "predictor-2.log").open("ab") as log:
            second = subprocess.Popen(
                [sys.executable, "-m", "services.predictor"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=workdir,
            )
        try:
            stack.wait_ready(timeout=90)
            yield Predictors(stack, second, f"http://127.0.0.1:{port}")
            stack.check_alive()
        finally:
            if second.poll() is None:
                second.terminate()
                second.wait(10)


def _requests(prefix: str, count: int) -> list[PredictionRequested]:
    records = RecordGenerator(seed=len(prefix), id_prefix=prefix).records(count, labelled=False)
    return [
        PredictionRequested(record_id=r.pop("record_id"), dataset="house-prices", features=r)
        for r in records
    ]


def _send(stack: Stack, requests: list[PredictionRequested]) -> None:
    topic = stack.config.topic_prefix + "predict.requests.v1"
    asyncio.run(
        publish_all(stack.config.bootstrap_servers, topic, requests, key=lambda r: r.record_id)
    )


def _read(stack: Stack, topic: str, prefix: str, count: int) -> list[dict[str, Any]]:
    """Messages of `topic` whose record id starts with `prefix`, once `count` records have
    arrived (duplicates included in the answer)."""
    full = stack.config.topic_prefix + topic

    def mine(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [m for m in messages if str(m.get("record_id", "")).startswith(prefix)]

    messages = asyncio.run(
        read_topic(
            stack.config.bootstrap_servers,
            full,
            until=lambda ms: len({m["record_id"] for m in mine(ms)}) >= count,
            timeout=60,
        )
    )
    return mine(messages)


def _with_foreign_input(data: bytes) -> bytes:
    """A valid ONNX model whose categorical input is called 'colour' (not a spec feature)."""
    model = onnx.load_from_string(data)
    for graph_input in model.graph.input:
        if graph_input.name == CATEGORICAL:
            graph_input.name = "colour"
    for node in model.graph.node:
        node.input[:] = ["colour" if name == CATEGORICAL else name for name in node.input]
    renamed: bytes = model.SerializeToString()
    return renamed


def test_two_predictors_split_the_partitions_and_score_each_record_once(
    predictors: Predictors,
) -> None:
    stack = predictors.stack
    upload_model(stack, tiny_model_bytes(), rmse=100.0, version_hint=1)
    predictors.wait_for("version", 1)
    # Warm up until both members hold partitions, so no rebalance happens mid-test.
    _send(stack, _requests("warm-", 400))
    _read(stack, "predict.results.v1", "warm-", 400)
    predicted = "mlbus_predictor_predictions_total{"
    assert all(predictors.metric_total(url, predicted) > 0 for url in predictors.urls)
    before = [predictors.metric_total(url, predicted) for url in predictors.urls]

    _send(stack, _requests("split-", 2000))
    results = _read(stack, "predict.results.v1", "split-", 2000)
    counts = Counter(r["record_id"] for r in results)
    assert len(counts) == 2000
    assert max(counts.values()) == 1
    after = [predictors.metric_total(url, predicted) for url in predictors.urls]
    shares = [a - b for a, b in zip(after, before, strict=True)]
    assert sum(shares) == 2000, shares
    assert min(shares) > 0, shares
    for url in predictors.urls:
        metrics = httpx.get(url + "/metrics").text
        # Real consumer underneath: lag per partition, latency per record, one load so far.
        assert "mlbus_predictor_consumer_lag{partition=" in metrics
        assert predictors.metric_total(url, "mlbus_predictor_latency_seconds_count") > 0
        assert predictors.metric_total(url, "mlbus_predictor_model_load_seconds_count") == 1


def test_a_promotion_under_load_swaps_without_losing_a_record(predictors: Predictors) -> None:
    stack = predictors.stack
    requests = _requests("swap-", 3000)
    _send(stack, requests[:1500])
    upload_model(stack, tiny_model_bytes(price_scale=2.0), rmse=50.0, version_hint=2)
    _send(stack, requests[1500:2000])
    predictors.wait_for("version", 2)
    _send(stack, requests[2000:])
    results = _read(stack, "predict.results.v1", "swap-", 3000)
    counts = Counter(r["record_id"] for r in results)
    assert len(counts) == 3000
    assert max(counts.values()) == 1
    versions = {r["record_id"]: r["model_version"] for r in results}
    assert {versions[r.record_id] for r in requests[2000:]} == {2}
    assert set(versions.values()) <= {1, 2}
    for url in predictors.urls:
        swaps = predictors.metric_total(
            url, 'mlbus_predictor_swaps_total{alias="champion",model="house-prices"}'
        )
        assert swaps == 2


def test_a_model_the_spec_cannot_feed_is_refused_and_the_old_one_serves(
    predictors: Predictors,
) -> None:
    stack = predictors.stack
    foreign = _with_foreign_input(tiny_model_bytes())
    bad = upload_model(stack, foreign, rmse=25.0, version_hint=3, categorical="colour")
    assert "champion" in bad["aliases"]  # the registry promoted it; the predictors must not

    def refused_so_far() -> list[dict[str, Any]]:
        events = asyncio.run(
            read_topic(
                stack.config.bootstrap_servers,
                stack.config.topic_prefix + "registry.models.v1",
                until=lambda ms: sum(m["kind"] == "model.refused.v1" for m in ms) >= 2,
                timeout=10,
            )
        )
        return [e for e in events if e["kind"] == "model.refused.v1"]

    refused = eventually_sync(
        refused_so_far,
        what="both predictors' refusals",
        until=lambda found: len(found) >= 2,
        interval=0,
    )
    assert [(e["version"], e["refused_by"]) for e in refused] == [(bad["version"], "predictor")] * 2
    assert "not a feature of the spec" in refused[0]["reason"]
    _send(stack, _requests("after-refusal-", 200))
    results = _read(stack, "predict.results.v1", "after-refusal-", 200)
    assert {r["model_version"] for r in results} == {2}
    for url in predictors.urls:
        refusals = predictors.metric_total(
            url, 'mlbus_predictor_model_loads_total{model="house-prices",outcome="refused"}'
        )
        assert refusals == 1


def test_a_challenger_is_shadow_scored_on_its_own_topic(predictors: Predictors) -> None:
    stack = predictors.stack
    challenger = upload_model(stack, tiny_model_bytes(price_scale=3.0), rmse=1000.0, version_hint=4)
    assert "challenger" in challenger["aliases"]
    predictors.wait_for("challenger_version", challenger["version"])
    _send(stack, _requests("shadow-", 300))
    results = _read(stack, "predict.results.v1", "shadow-", 300)
    shadow = _read(stack, "predict.shadow.v1", "shadow-", 300)
    assert {r["model_version"] for r in results} == {2}
    assert {s["model_version"] for s in shadow} == {challenger["version"]}
    champion = {r["record_id"]: r["prediction"] for r in results}
    for s in shadow:
        assert s["prediction"] == pytest.approx(1.5 * champion[s["record_id"]], rel=1e-3)


def test_after_a_crash_duplicates_carry_the_same_event_id(predictors: Predictors) -> None:
    """Runs last: it kills the second predictor mid-stream; the first takes its partitions."""
    stack = predictors.stack
    assert predictors.second.poll() is None, "the second predictor died before the crash test"
    requests = _requests("crash-", 3000)
    _send(stack, requests[:1500])
    predictors.second.kill()  # no clean shutdown: uncommitted batches are redelivered
    predictors.second.wait(10)
    _send(stack, requests[1500:])
    results = _read(stack, "predict.results.v1", "crash-", 3000)
    by_record: dict[str, set[tuple[int, str]]] = {}
    for result in results:
        by_record.setdefault(result["record_id"], set()).add(
            (result["model_version"], result["event_id"])
        )
    assert set(by_record) == {r.record_id for r in requests}
    # A record scored twice by the same version is published under one event id.
    assert all(len(copies) == 1 for copies in by_record.values())
