"""A classifier's loop closes like a regressor's: an imbalanced stream (about 1 % fraud) whose
fraud pattern moves; the champion's live recall of fraud falls, drift is detected, the trainer
retrains on recent labels, the new champion is served and its live recall recovers. All five
services as real processes; labels arrive late, through ingest, as a user's would.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from contracts import Topics, TrainModel
from mlbus.bus import publish_all, read_topic
from mlbus.demo import wait_for_champion
from mlbus.runner import Stack, StackConfig
from services.common.specfile import dump_spec
from tests.e2e.fraud_stream import SPEC, PaymentStream
from tests.e2e.loop_support import until_buffered
from tests.support.polling import eventually

pytestmark = pytest.mark.e2e

MODEL = SPEC.name
LOOP_ENV = {
    # The first champion on command; after that only drift makes runs, on recent labels.
    "MLBUS_TRAINER_RETRAIN_EVERY": "1000000",
    "MLBUS_TRAINER_MIN_RECORDS": "1000",
    "MLBUS_TRAINER_DRIFT_RECORDS": "2500",
    "MLBUS_MONITOR_WINDOW_SIZE": "500",
    "MLBUS_MONITOR_MIN_WINDOW": "200",
    "MLBUS_MONITOR_DRIFT_WINDOWS": "2",
    "MLBUS_MONITOR_COOLDOWN_SECONDS": "1",
    # Live scores over the latest 1,000 joined labels: one phase of the stream at a time.
    "MLBUS_MONITOR_CLASSIFICATION_WINDOW": "1000",
}
TIMEOUT = 180.0


@pytest.fixture(scope="module")
def stack_env() -> dict[str, str]:
    return LOOP_ENV


@pytest.fixture(scope="module")
def stack_config(stack_config: StackConfig) -> StackConfig:
    stack_config.spec_path = stack_config.workdir / "payments.yaml"
    stack_config.spec_path.write_text(dump_spec(SPEC))
    return stack_config


def _key(record: dict[str, Any]) -> str:
    return str(record["record_id"])


async def _publish(stack: Stack, records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    sent = list(records)
    topic = Topics.with_prefix(stack.config.topic_prefix).raw
    await publish_all(stack.config.bootstrap_servers, topic, sent, key=_key)
    return sent


async def _scores(stack: Stack, version: int) -> dict[str, float]:
    """The champion's live scores, and its recall of fraud, as the monitor exports them."""
    stack.check_alive()
    who = {"model": MODEL, "model_version": str(version), "role": "champion"}
    async with httpx.AsyncClient(timeout=5) as client:
        text = (await client.get(f"{stack.config.url('monitor')}/metrics")).text
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if sample.name == "mlbus_monitor_labels_total" and labels == {"outcome": "joined"}:
                found["joined"] = sample.value
            if not who.items() <= labels.items():
                continue
            if sample.name == "mlbus_classification_labels":
                found["labels"] = sample.value
            elif sample.name == "mlbus_classification_score":
                found[labels["metric"]] = sample.value
            elif labels.get("class") == "yes" and labels.get("metric") == "recall":
                found["fraud_recall"] = sample.value
    return found


async def _scores_after(stack: Stack, version: int, labels: int, joined: int) -> dict[str, float]:
    """The champion's scores once its window holds `labels` labels and the monitor has joined
    `joined` in all (the window is full long before the last of a phase's labels join)."""
    scores: dict[str, float] = await eventually(
        lambda: _scores(stack, version),
        what=f"v{version}'s live scores over {labels} labels, {joined} joined in all",
        until=lambda s: (
            s.get("labels") == labels and s.get("joined", 0) >= joined and "fraud_recall" in s
        ),
        timeout=TIMEOUT,
        interval=0.5,
        context=lambda: stack.log_tail("monitor"),
    )
    return scores


async def _scored(stack: Stack, stream: PaymentStream, count: int, version: int) -> None:
    """Live traffic scored by `version`, then its labels, late, through ingest."""
    live = await _publish(stack, stream.records(count, labelled=False))
    topics = Topics.with_prefix(stack.config.topic_prefix)
    wanted = {r["record_id"] for r in live}
    scored = await read_topic(
        stack.config.bootstrap_servers,
        topics.predict_results,
        timeout=TIMEOUT,
        until=lambda m: wanted <= {p["record_id"] for p in m},
    )
    assert {p["model_version"] for p in scored if p["record_id"] in wanted} == {version}
    await _publish(stack, _labels_of(stream, live))


def _labels_of(stream: PaymentStream, live: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same payments with their labels (the stream decided them when it made them)."""
    return [{**record, "fraud": stream.label(record["record_id"])} for record in live]


async def _new_champion(stack: Stack, after: int) -> dict[str, Any]:
    registry = stack.config.url("registry")

    async def promoted() -> dict[str, Any] | None:
        stack.check_alive()
        champion = await wait_for_champion(registry, MODEL, TIMEOUT)
        return champion if champion["version"] > after else None

    found: dict[str, Any] | None = await eventually(
        promoted,
        what=f"a champion after v{after}",
        timeout=TIMEOUT,
        interval=1.0,
        context=lambda: "\n".join(
            f"--- {n}\n{stack.log_tail(n, 15)}" for n in ("trainer", "registry", "monitor")
        ),
    )
    assert found is not None
    return found


async def _train_once_buffered(stack: Stack, count: int) -> None:
    """A TrainModel command once the trainer holds `count` labelled records."""
    await until_buffered(stack, count, TIMEOUT)
    topic = Topics.with_prefix(stack.config.topic_prefix).trainer_commands
    command = TrainModel(reason="the first model")
    await publish_all(stack.config.bootstrap_servers, topic, [command])


async def test_a_moved_fraud_pattern_is_detected_retrained_and_recovered(stack: Stack) -> None:
    config = stack.config
    topics = Topics.with_prefix(config.topic_prefix)
    await _publish(stack, PaymentStream(1, "calm-l").records(4000))
    await _train_once_buffered(stack, 4000)
    first = await _new_champion(stack, 0)
    assert first["card"]["classes"] == ["no", "yes"]
    assert first["card"]["reference"]["labels"]["frequencies"]["yes"] < 0.03

    await _scored(stack, PaymentStream(2, "calm-u"), 1000, version=1)
    calm = await _scores_after(stack, 1, 1000, joined=1000)

    # Fraud moves to online payments, which grow from 10 % to 30 % of the stream.
    await _publish(stack, PaymentStream(3, "moved-l", moved=True).records(2500))
    await _scored(stack, PaymentStream(4, "moved-u", moved=True), 1500, version=1)
    moved = await _scores_after(stack, 1, 1000, joined=2500)
    drift = await read_topic(config.bootstrap_servers, topics.drift, timeout=TIMEOUT, until=bool)
    assert drift[0]["model_version"] == 1
    assert drift[0]["features"][0]["feature"] == "merchant"  # online grew from 10 % to 30 %

    second = await _new_champion(stack, 1)
    metrics = second["card"]["metrics"]
    comparison = metrics["score_comparison"]
    assert comparison["champion_version"] == 1
    assert comparison["score"] < comparison["champion_score"]  # log loss, on the same rows
    await _scored(stack, PaymentStream(5, "after-u", moved=True), 1500, second["version"])
    recovered = await _scores_after(stack, second["version"], 1000, joined=4000)

    print(f"fraud recall: calm v1 {calm['fraud_recall']:.2f}, moved v1 "
          f"{moved['fraud_recall']:.2f}, moved v{second['version']} "
          f"{recovered['fraud_recall']:.2f}; log loss {calm['log_loss']:.3f} -> "
          f"{moved['log_loss']:.3f} -> {recovered['log_loss']:.3f}")  # fmt: skip
    assert moved["fraud_recall"] < calm["fraud_recall"] - 0.3
    assert moved["log_loss"] > calm["log_loss"]
    assert recovered["fraud_recall"] > moved["fraud_recall"] + 0.3
    assert recovered["log_loss"] < moved["log_loss"]
