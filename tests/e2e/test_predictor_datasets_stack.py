"""The predictor learning a data set at run time, on a real broker beside the real registry
and ingest.

A data set registered while the predictor runs gets its own model: once its champion is
uploaded, the records of each data set in one stream are scored by their own model, and a
record of a data set no one registered is dead-lettered with rule `dataset`; records posted to
ingest under each data set come out scored by their own model too. No restart.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from contracts import HOUSE_PRICES, OnnxInput, PredictionRequested, Topics
from mlbus.brokers import Broker
from mlbus.bus import ensure_topics, publish_all, read_topic
from mlbus.datagen import RecordGenerator
from mlbus.runner import Stack, StackConfig
from tests.support.polling import eventually_sync
from tests.support.spec_samples import rentals
from tests.unit.predictor.predictor_fixtures import named_version, scaling_model_bytes

pytestmark = pytest.mark.e2e

HOUSES = HOUSE_PRICES.name


@pytest.fixture(scope="module")
def stack(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The registry, ingest and the predictor, with every topic created as `mlbus up` does."""
    config = StackConfig.with_free_ports(
        broker.bootstrap_servers,
        tmp_path_factory.mktemp("predictor-datasets-e2e"),
        topic_prefix=f"t{uuid.uuid4().hex[:10]}.",
        # The test models have made-up cards; the predictor checks inputs against its specs.
        extra_env={"MLBUS_PREDICTOR_POLL_SECONDS": "0.2", "MLBUS_REGISTRY_SPEC_CHECK": "false"},
    )
    stack = Stack(config)
    stack.log_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(
        ensure_topics(config.bootstrap_servers, Topics.with_prefix(config.topic_prefix).all())
    )
    try:
        stack.start_service("registry")
        stack.wait_service_ready("registry")
        stack.start_service("predictor")
        stack.start_service("ingest")
        yield stack
        stack.check_alive()
    finally:
        stack.stop()


def _upload(stack: Stack, model_name: str, scale: float) -> None:
    """A model of `model_name` predicting `scale` x area; the first of its name is champion."""
    data = scaling_model_bytes("area", scale)
    card = named_version(model_name, 1, data).card
    card = card.model_copy(update={"inputs": (OnnxInput(name="area", type="float"),)})
    response = httpx.post(
        f"{stack.config.url('registry')}/models/{model_name}/versions",
        headers={"Authorization": f"Bearer {stack.config.registry_token}"},
        files={"artifact": ("m.onnx", data, "application/octet-stream")},
        data={"card": card.model_dump_json()},
        timeout=30,
    )
    assert response.status_code == 201, response.text


def _register_rentals(stack: Stack) -> None:
    response = httpx.put(
        f"{stack.config.url('registry')}/specs/rentals",
        headers={"Authorization": f"Bearer {stack.config.registry_token}"},
        json=rentals().model_dump(mode="json"),
        timeout=30,
    )
    assert response.status_code == 201, response.text


def _served(stack: Stack) -> dict[str, Any]:
    stack.check_alive()
    models = httpx.get(stack.config.url("predictor") + "/model", timeout=5).json()["models"]
    return {m["dataset"]: m.get("version") for m in models}


def _read(stack: Stack, topic: str, count: int) -> list[dict[str, Any]]:
    return asyncio.run(
        read_topic(
            stack.config.bootstrap_servers,
            stack.config.topic_prefix + topic,
            until=lambda messages: len(messages) >= count,
            timeout=60,
        )
    )


@pytest.fixture(scope="module")
def served(stack: Stack) -> Stack:
    """Houses served from the start; rentals registered and its champion uploaded meanwhile."""
    _upload(stack, HOUSES, scale=2.0)
    stack.wait_service_ready("predictor", timeout=90)
    _register_rentals(stack)
    _upload(stack, "rentals", scale=3.0)
    eventually_sync(
        lambda: _served(stack),
        what="the rentals champion served beside the houses one",
        until=lambda served: served == {HOUSES: 1, "rentals": 1},
        timeout=60,
    )
    return stack


def test_a_data_set_registered_at_run_time_is_scored_by_its_own_model(served: Stack) -> None:
    requests = [
        PredictionRequested(record_id=f"{dataset}-{i}", dataset=dataset, features={"area": i})
        for i in range(1, 21)
        for dataset in (HOUSES, "rentals", "nowhere")
    ]
    topic = served.config.topic_prefix + "predict.requests.v1"
    asyncio.run(
        publish_all(served.config.bootstrap_servers, topic, requests, key=lambda r: r.record_id)
    )
    made = _made(served, lambda record_id: record_id.startswith(("house", "rentals")), 40)
    for i in range(1, 21):
        assert made[f"{HOUSES}-{i}"] == (HOUSES, 2.0 * i)
        assert made[f"rentals-{i}"] == ("rentals", 3.0 * i)
    rejected = _read(served, "ingest.rejected.v1", 20)
    assert {r["record_id"] for r in rejected} == {f"nowhere-{i}" for i in range(1, 21)}
    assert {reason["rule"] for r in rejected for reason in r["reasons"]} == {"dataset"}


def test_records_posted_to_ingest_are_scored_by_their_data_sets_model(served: Stack) -> None:
    eventually_sync(
        lambda: httpx.get(served.config.url("ingest") + "/metrics", timeout=5).text,
        what="ingest to learn the rentals data set",
        until=lambda text: 'dataset="rentals"' in text,
    )
    flats: list[dict[str, Any]] = [
        {"record_id": f"flat-{i}", "area": 30 + i, "rooms": 2, "district": "north"}
        for i in range(10)
    ]
    houses = list(RecordGenerator(seed=5, id_prefix="villa").records(10, labelled=False))
    for dataset, rows in (("rentals", flats), (None, houses)):
        query = "" if dataset is None else f"?dataset={dataset}"
        answer = httpx.post(f"{served.config.url('ingest')}/records{query}", json=rows, timeout=30)
        assert answer.status_code == 200, answer.text
        assert answer.json()["accepted"] == 10, answer.text
    made = _made(served, lambda record_id: record_id.startswith(("flat-", "villa")), 20)
    for flat in flats:
        assert made[flat["record_id"]] == ("rentals", 3.0 * flat["area"])
    for house in houses:
        model, prediction = made[str(house["record_id"])]
        assert model == HOUSES
        assert prediction == pytest.approx(2.0 * float(house["area"]))


def _made(stack: Stack, mine: Callable[[str], bool], count: int) -> dict[str, tuple[str, float]]:
    """(model, prediction) of each of `count` records of predict.results.v1 that are `mine`."""
    results = asyncio.run(
        read_topic(
            stack.config.bootstrap_servers,
            stack.config.topic_prefix + "predict.results.v1",
            until=lambda ms: len({m["record_id"] for m in ms if mine(m["record_id"])}) >= count,
            timeout=60,
        )
    )
    return {
        r["record_id"]: (r["model_name"], r["prediction"]) for r in results if mine(r["record_id"])
    }
