"""The `mlbus` CLI against a real broker: publish a CSV, ask for training."""

from __future__ import annotations

import asyncio
import csv
import subprocess
import sys
from pathlib import Path

import pytest

from contracts import Topics
from mlbus.brokers import Broker
from mlbus.bus import read_topic
from mlbus.datagen import RecordGenerator

# What brokers do differently: on tansu (test-fast) as well as Apache Kafka (test-kafka).
pytestmark = [pytest.mark.e2e, pytest.mark.both_brokers]


def mlbus(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlbus", *args], capture_output=True, text=True, timeout=120
    )


def test_publish_sends_every_csv_row_as_a_raw_record(
    broker: Broker, topic_prefix: str, tmp_path: Path
) -> None:
    records = list(RecordGenerator(seed=2).records(40))
    records[3]["price"] = None  # an empty target cell: to be scored, not trained on
    path = tmp_path / "houses.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)

    result = mlbus(
        "publish",
        str(path),
        "--bootstrap",
        broker.bootstrap_servers,
        "--topic-prefix",
        topic_prefix,
        "--wait",
        "0",  # no ingest runs here: no verdicts to wait for
    )
    assert result.returncode == 0, result.stderr
    assert "40 records" in result.stdout

    topic = Topics.with_prefix(topic_prefix).raw
    published = asyncio.run(
        read_topic(broker.bootstrap_servers, topic, until=lambda m: len(m) >= 40, timeout=30)
    )
    by_id = {m["record_id"]: m for m in published}  # keyed by record id: order per partition
    assert sorted(by_id) == sorted(r["record_id"] for r in records)
    assert by_id[records[3]["record_id"]]["price"] is None
    first = by_id[records[0]["record_id"]]
    assert first["area"] == str(records[0]["area"])  # ingest parses, the CLI does not


def test_train_publishes_a_train_model_command(broker: Broker, topic_prefix: str) -> None:
    result = mlbus(
        "train",
        "--bootstrap",
        broker.bootstrap_servers,
        "--topic-prefix",
        topic_prefix,
        "--model",
        "house-prices",
        "--estimator",
        "linear",
        "--param",
        "alpha=0.5",
        "--recent",
        "300",
        "--no-wait",  # no trainer runs here: no verdict to wait for
    )
    assert result.returncode == 0, result.stderr
    topic = Topics.with_prefix(topic_prefix).trainer_commands
    commands = asyncio.run(read_topic(broker.bootstrap_servers, topic, until=bool, timeout=30))
    assert [(c["kind"], c["model_name"]) for c in commands] == [("train_model.v1", "house-prices")]
    command = commands[0]
    assert command["reason"]
    assert (command["estimator"], command["hyperparameters"]) == ("linear", {"alpha": 0.5})
    assert (command["snapshot_mode"], command["snapshot_records"]) == ("recent", 300)


def test_a_bad_spec_stops_with_a_clear_message(tmp_path: Path) -> None:
    spec = tmp_path / "broken.yaml"
    spec.write_text("name: Bad Name\nfeatures: []\n")
    result = mlbus("up", "--spec", str(spec), "--bootstrap", "127.0.0.1:9")
    assert result.returncode == 1
    assert "invalid dataset spec" in result.stderr
    assert "broken.yaml" in result.stderr
