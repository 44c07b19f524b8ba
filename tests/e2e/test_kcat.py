"""Plain Kafka + JSON with clients nobody here wrote, on the broker `mlbus up` starts by default.

kcat (librdkafka's command-line client) produces raw JSON records into ingest's raw topic of a
running stack and reads the predictions back; a confluent-kafka (librdkafka) consumer group
reads them too and commits. No Python Kafka client of the project's is on the data path.
A data set registered into the running stack takes records that name it in a kcat header.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from confluent_kafka import Consumer

from contracts import DATASET_HEADER, HOUSE_PRICES, Topics
from mlbus.brokers import Broker, start_broker
from mlbus.brokers.choice import default_broker_kind
from mlbus.datagen import RecordGenerator
from mlbus.demo import wait_for_champion
from mlbus.runner import Stack, StackConfig
from tests.support.polling import eventually_sync
from tests.support.spec_samples import rentals
from tests.support.stack_cli import stack_cli

pytestmark = pytest.mark.e2e

LABELLED, UNLABELLED = 300, 60
TRAIN_ON_FIRST_RECORDS = {
    "MLBUS_TRAINER_RETRAIN_EVERY": str(LABELLED),
    "MLBUS_TRAINER_MIN_RECORDS": str(LABELLED),
}


@pytest.fixture(scope="module")
def default_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """The broker `mlbus up` starts on this machine (Apache Kafka where Java 17+ runs)."""
    if shutil.which("kcat") is None:
        pytest.fail("kcat is not installed: scripts/install-ci-deps.sh installs it")
    kind = default_broker_kind(say=lambda _: None)
    if kind != "kafka":
        pytest.skip("the default broker here is tansu (no Java 17+): librdkafka cannot use it")
    with start_broker(kind, tmp_path_factory.mktemp("default-broker")) as running:
        yield running


@pytest.fixture(scope="module")
def stack(default_broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = StackConfig.with_free_ports(
        default_broker.bootstrap_servers,
        tmp_path_factory.mktemp("kcat"),
        topic_prefix=f"k{uuid.uuid4().hex[:10]}.",
        extra_env={**default_broker.client_env(), **TRAIN_ON_FIRST_RECORDS},
    )
    with Stack(config) as running:
        running.wait_ready(timeout=90)
        yield running
        running.check_alive()


def kcat(*args: str, stdin: str = "", timeout: float = 60) -> str:
    result = subprocess.run(
        ["kcat", *args], input=stdin, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def json_lines(records: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(record) + "\n" for record in records)


@pytest.fixture(scope="module")
async def kcat_predictions(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Records in with `kcat -P`, a champion trained on them, predictions out with `kcat -C`."""
    bootstrap, topics = (
        stack.config.bootstrap_servers,
        Topics.with_prefix(stack.config.topic_prefix),
    )
    labelled = list(RecordGenerator(seed=3, id_prefix="kcat-train").records(LABELLED))
    kcat("-P", "-b", bootstrap, "-t", topics.raw, stdin=json_lines(labelled))
    await wait_for_champion(stack.config.url("registry"), HOUSE_PRICES.name, timeout=120)
    requests = RecordGenerator(seed=4, id_prefix="kcat-live").records(UNLABELLED, labelled=False)
    kcat("-P", "-b", bootstrap, "-t", topics.raw, stdin=json_lines(list(requests)))
    out = kcat("-C", "-b", bootstrap, "-t", topics.predict_results, "-o", "beginning",
               "-c", str(UNLABELLED), "-f", "%s\n", timeout=120)  # fmt: skip
    return out.splitlines()


def test_kcat_produces_raw_json_and_reads_every_prediction_back(
    kcat_predictions: list[str],
) -> None:
    predictions = [json.loads(line) for line in kcat_predictions]
    assert sorted(p["record_id"] for p in predictions) == [
        f"kcat-live-{i:08d}" for i in range(UNLABELLED)
    ]
    assert all(p["model_version"] >= 1 for p in predictions)


def test_a_librdkafka_consumer_group_reads_predictions_and_commits(
    kcat_predictions: list[str], stack: Stack
) -> None:
    bootstrap = stack.config.bootstrap_servers
    topic = Topics.with_prefix(stack.config.topic_prefix).predict_results
    group = f"{stack.config.topic_prefix}librdkafka-readers"
    first = group_consumer(bootstrap, group, topic)
    try:
        values = poll_values(first, UNLABELLED)
        committed = first.commit(asynchronous=False)
        assert committed
        assert all(tp.error is None for tp in committed)
        assignment = first.assignment()
        positions = {tp.partition: tp.offset for tp in first.committed(assignment, timeout=10)}
        ends = {tp.partition: first.get_watermark_offsets(tp)[1] for tp in assignment}
    finally:
        first.close()
    assert sorted(json.loads(v)["record_id"] for v in values) == sorted(
        json.loads(line)["record_id"] for line in kcat_predictions
    )
    assert positions == ends  # the group committed the end of every partition
    again = group_consumer(bootstrap, group, topic)
    try:  # the group's next member starts at the commits: nothing left to read
        assert poll_values(again, 1, timeout=8) == []
    finally:
        again.close()


def group_consumer(bootstrap: str, group: str, topic: str) -> Consumer:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    return consumer


def poll_values(consumer: Consumer, wanted: int, timeout: float = 60) -> list[bytes]:
    """Up to `wanted` message values, polling until they arrived or `timeout` s passed."""
    values: list[bytes] = []
    deadline = time.monotonic() + timeout
    while len(values) < wanted and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is None:
            continue
        assert message.error() is None, message.error()
        value = message.value()
        assert isinstance(value, bytes)
        values.append(value)
    return values


def test_kcat_sends_records_of_a_data_set_registered_at_run_time(
    kcat_predictions: list[str], stack: Stack, tmp_path: Path
) -> None:
    spec = tmp_path / "rentals.yaml"
    spec.write_text(yaml.safe_dump(rentals().model_dump(mode="json")), encoding="utf-8")
    registered = stack_cli(stack, "spec", "register", str(spec))
    assert registered.strip() == "rentals: spec v1 (major 1), new version"
    eventually_sync(
        lambda: httpx.get(stack.config.url("ingest") + "/metrics", timeout=5).text,
        what="ingest to learn the rentals data set from the registry",
        until=lambda text: 'dataset="rentals"' in text,
    )
    bootstrap, topics = (
        stack.config.bootstrap_servers,
        Topics.with_prefix(stack.config.topic_prefix),
    )
    flats = [
        {
            "record_id": f"kcat-flat-{i}",
            "area": 40 + i,
            "rooms": 2,
            "district": "south",
            "rent": 700,
        }
        for i in range(5)
    ]
    kcat("-P", "-b", bootstrap, "-t", topics.raw, "-H", f"{DATASET_HEADER}=rentals",
         stdin=json_lines(flats))  # fmt: skip
    kcat("-P", "-b", bootstrap, "-t", topics.raw, "-H", f"{DATASET_HEADER}=flats",
         stdin=json_lines([{**flats[0], "record_id": "kcat-nowhere"}]))  # fmt: skip
    ingested = eventually_sync(
        lambda: [e for e in read_all(bootstrap, topics.records) if e["dataset"] == "rentals"],
        what="the rentals records on the training topic",
        until=lambda events: len(events) >= len(flats),
        timeout=60,
    )
    assert sorted(e["record_id"] for e in ingested) == [f["record_id"] for f in flats]
    dead = eventually_sync(
        lambda: [
            e for e in read_all(bootstrap, topics.rejected) if "kcat-nowhere" in e["original"]
        ],
        what="the record of an unknown data set, dead-lettered",
        timeout=60,
    )
    assert [[(r["field"], r["rule"]) for r in e["reasons"]] for e in dead] == [[(None, "dataset")]]


def read_all(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    """Every message of `topic` so far, read with kcat (which exits at the end)."""
    out = kcat("-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%s\n")
    return [json.loads(line) for line in out.splitlines() if line]
