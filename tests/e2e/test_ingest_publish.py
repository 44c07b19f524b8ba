"""`mlbus publish` of CSV and Parquet files against the running ingest: progress, summary."""

from __future__ import annotations

import csv
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from contracts import Topics
from mlbus.brokers import Broker
from mlbus.datagen import RecordGenerator
from mlbus.runner import Stack
from tests.e2e.ingest_support import outcomes, running_ingest

# What brokers do differently: on tansu (test-fast) as well as Apache Kafka (test-kafka).
pytestmark = [pytest.mark.e2e, pytest.mark.both_brokers]


@pytest.fixture(scope="module")
def ingest(
    broker: Broker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Stack, Topics]]:
    with running_ingest(broker.bootstrap_servers, tmp_path_factory.mktemp("ingest-pub")) as up:
        yield up


def rows(prefix: str) -> list[dict[str, Any]]:
    """290 rows: 20 unlabelled, 10 invalid (two reasons each), 5 repeating an earlier row."""
    generated = list(RecordGenerator(seed=8, id_prefix=prefix).records(285))
    for index in range(20):
        generated[index]["price"] = None
    for index in range(20, 30):
        generated[index].update(area=-5, mainroad="maybe")
    return generated + [dict(generated[i]) for i in range(100, 105)]


def mlbus_publish(
    path: Path, topics: Topics, broker: Broker, *extra: str
) -> subprocess.CompletedProcess[str]:
    prefix = topics.raw.removesuffix("ingest.raw.v1")
    command = [sys.executable, "-m", "mlbus", "publish", str(path), "--wait", "60", *extra,
               "--bootstrap", broker.bootstrap_servers, "--topic-prefix", prefix]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


SUMMARY = "accepted 275 (training 255, prediction 20), rejected 10, duplicate 5"


def test_publishing_a_csv_ends_with_a_summary_of_verdicts(
    ingest: tuple[Stack, Topics], broker: Broker, tmp_path: Path
) -> None:
    stack, topics = ingest
    data = rows("csv")
    path = tmp_path / "houses.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(data[0]))
        writer.writeheader()
        writer.writerows(data)
    before = sum(outcomes(stack).values())
    result = mlbus_publish(path, topics, broker, "--rate", "2000")
    assert result.returncode == 0, result.stderr
    assert "290 records" in result.stdout
    assert SUMMARY in result.stdout, result.stdout
    assert "10  area: min" in result.stdout
    assert "10  mainroad: category" in result.stdout
    assert "[##############################] 290/290 100%" in result.stderr  # the progress bar
    assert sum(outcomes(stack).values()) - before == 290


def test_publishing_parquet_counts_the_same(
    ingest: tuple[Stack, Topics], broker: Broker, tmp_path: Path
) -> None:
    _, topics = ingest
    data = rows("pq")
    path = tmp_path / "houses.parquet"
    pq.write_table(pa.Table.from_pylist(data), path)
    result = mlbus_publish(path, topics, broker)
    assert result.returncode == 0, result.stderr
    assert SUMMARY in result.stdout, result.stdout
