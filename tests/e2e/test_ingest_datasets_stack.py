"""Ingest on a real broker learns a data set announced while it runs and serves it at once.

The announcement goes on registry.specs.v1 as the registry sends it; `mlbus publish --dataset`
names the data set in each message's header; a header that is not UTF-8 names none known.
"""

from __future__ import annotations

import asyncio
import csv
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from aiokafka import AIOKafkaProducer

from contracts import DATASET_HEADER, RecordRejected, Topics
from mlbus.brokers import Broker
from mlbus.bus import publish_all, read_topic
from mlbus.runner import Stack
from tests.e2e.ingest_support import running_ingest
from tests.support.polling import eventually_sync
from tests.support.spec_samples import registered, rentals

pytestmark = [pytest.mark.e2e, pytest.mark.both_brokers]
ROWS = 40


@pytest.fixture(scope="module")
def ingest(
    broker: Broker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Stack, Topics]]:
    with running_ingest(broker.bootstrap_servers, tmp_path_factory.mktemp("ingest-ds")) as up:
        stack, topics = up
        announcement = registered(rentals())  # as the registry announces a new data set
        asyncio.run(
            publish_all(broker.bootstrap_servers, topics.specs, [announcement], key=_dataset)
        )
        eventually_sync(
            lambda: httpx.get(stack.config.url("ingest") + "/metrics", timeout=5).text,
            what="ingest to learn the rentals data set",
            until=lambda text: 'dataset="rentals"' in text,
        )
        yield up


def _dataset(event: Any) -> str:
    return str(event.dataset)


def rental_rows() -> list[dict[str, Any]]:
    return [
        {"record_id": f"flat-{i}", "area": 30 + i, "rooms": 1 + i % 4, "district": "north",
         "rent": 500 + 10 * i}
        for i in range(ROWS)
    ]  # fmt: skip


def test_mlbus_publish_names_the_data_set_of_every_row(
    ingest: tuple[Stack, Topics], broker: Broker, tmp_path: Path
) -> None:
    _, topics = ingest
    path, spec = tmp_path / "flats.csv", tmp_path / "rentals.yaml"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rental_rows()[0]))
        writer.writeheader()
        writer.writerows(rental_rows())
    spec.write_text(yaml.safe_dump(rentals().model_dump(mode="json")), encoding="utf-8")
    prefix = topics.raw.removesuffix("ingest.raw.v1")
    command = [sys.executable, "-m", "mlbus", "publish", str(path), "--dataset", "rentals",
               "--spec", str(spec), "--wait", "60", "--bootstrap", broker.bootstrap_servers,
               "--topic-prefix", prefix]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert f"accepted {ROWS} (training {ROWS}, prediction 0), rejected 0" in result.stdout
    events = asyncio.run(
        read_topic(
            broker.bootstrap_servers, topics.records, until=lambda m: len(m) >= ROWS, timeout=30
        )
    )
    assert sorted(e["record_id"] for e in events) == sorted(r["record_id"] for r in rental_rows())
    assert {e["dataset"] for e in events} == {"rentals"}


async def test_a_header_that_is_not_utf8_is_dead_lettered_as_an_unknown_data_set(
    ingest: tuple[Stack, Topics], broker: Broker
) -> None:
    _, topics = ingest
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers, acks="all")
    await producer.start()
    try:
        body = b'{"record_id": "bin-1", "area": 40, "rooms": 2, "district": "south"}'
        headers = [(DATASET_HEADER, b"rent\xffals")]
        await producer.send_and_wait(topics.raw, body, key=b"bin-1", headers=headers)
    finally:
        await producer.stop()
    dead = await read_topic(
        broker.bootstrap_servers,
        topics.rejected,
        until=lambda m: any(e.get("record_id") is None for e in m),
        timeout=30,
    )
    [event] = [RecordRejected.model_validate(e) for e in dead if "bin-1" in e["original"]]
    [reason] = event.reasons
    assert (reason.field, reason.rule) == (None, "dataset")
    assert reason.message.startswith("unknown data set 'rent\ufffdals'; known: ")
