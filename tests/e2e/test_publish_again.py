"""`mlbus publish` of a file published before: its summary reads from where ingest's outputs
end now, on every broker (tansu reports end offsets short; run with --broker tansu and kafka)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest

from contracts import Topics
from mlbus.brokers import Broker
from mlbus.datagen import RecordGenerator
from mlbus.runner import Stack
from tests.e2e.ingest_support import running_ingest
from tests.e2e.test_ingest_publish import mlbus_publish

# What brokers do differently: on tansu (test-fast) as well as Apache Kafka (test-kafka).
pytestmark = [pytest.mark.e2e, pytest.mark.both_brokers]


@pytest.fixture
def ingest(broker: Broker, tmp_path: Path) -> Iterator[tuple[Stack, Topics]]:
    with running_ingest(broker.bootstrap_servers, tmp_path / "ingest") as up:
        yield up


def test_a_second_publish_of_a_file_counts_only_its_own_records(
    ingest: tuple[Stack, Topics], broker: Broker, tmp_path: Path
) -> None:
    _, topics = ingest
    data = list(RecordGenerator(seed=9, id_prefix="again").records(120))
    path = tmp_path / "houses.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(data[0]))
        writer.writeheader()
        writer.writerows(data)
    first = mlbus_publish(path, topics, broker)
    assert first.returncode == 0, first.stderr
    assert "accepted 120 (training 120, prediction 0), rejected 0, duplicate 0" in first.stdout
    second = mlbus_publish(path, topics, broker)
    assert second.returncode == 0, second.stderr
    assert "accepted 0 (training 0, prediction 0), rejected 0, duplicate 120" in second.stdout, (
        second.stdout
    )
    assert "not yet accounted for" not in second.stdout
