"""Ingest on a real broker dead-letters the records of a data set retired while it runs.

Both announcements go on registry.specs.v1 as the registry sends them (keyed by data set):
first the data set's spec, then its retirement; a record naming it is then dead-lettered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from itertools import count
from typing import Any

import httpx
import pytest

from contracts import RecordRejected, Topics
from mlbus.brokers import Broker
from mlbus.bus import publish_all, read_topic
from mlbus.runner import Stack
from tests.e2e.ingest_support import running_ingest
from tests.support.polling import eventually_sync
from tests.support.spec_samples import registered, rentals, retired

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def ingest(
    broker: Broker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Stack, Topics]]:
    with running_ingest(broker.bootstrap_servers, tmp_path_factory.mktemp("ingest-ret")) as up:
        stack, topics = up
        announce(broker, topics, registered(rentals()))
        eventually_sync(
            lambda: httpx.get(stack.config.url("ingest") + "/metrics", timeout=5).text,
            what="ingest to learn the rentals data set",
            until=lambda text: 'dataset="rentals"' in text,
        )
        yield up


def announce(broker: Broker, topics: Topics, event: Any) -> None:
    asyncio.run(publish_all(broker.bootstrap_servers, topics.specs, [event], key=_dataset))


def _dataset(event: Any) -> str:
    return str(event.dataset)


def test_records_of_a_data_set_retired_at_run_time_are_dead_lettered(
    ingest: tuple[Stack, Topics], broker: Broker
) -> None:
    stack, topics = ingest
    numbers = count()

    def post_one() -> dict[str, Any]:
        row = {"record_id": f"old-{next(numbers)}", "area": 40, "rooms": 2, "district": "north"}
        url = stack.config.url("ingest") + "/records?dataset=rentals"
        answer = httpx.post(url, json=[row], timeout=10)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    assert post_one()["accepted"] == 1  # served until its retirement is learned
    announce(broker, topics, retired("rentals", reason="replaced by flats"))
    answer = eventually_sync(
        post_one,
        what="ingest to learn the retirement of rentals",
        until=lambda body: body["accepted"] == 0,
    )
    [rejected] = answer["rejected"]
    [reason] = rejected["reasons"]
    assert reason["rule"] == "retired"
    assert reason["message"].endswith("retired since 2026-12-07T00:00:00+00:00: replaced by flats")
    dead = asyncio.run(
        read_topic(
            broker.bootstrap_servers,
            topics.rejected,
            until=lambda events: any(e["reasons"][0]["rule"] == "retired" for e in events),
            timeout=30,
        )
    )
    events = [RecordRejected.model_validate(e) for e in dead]
    retirements = [e for e in events if e.reasons[0].rule == "retired"]
    assert {(e.source, e.reasons[0].message) for e in retirements} == {("http", reason["message"])}
