"""The predictor serving several data sets at once: a data set learned at run time gets its own
model, each record is scored by its data set's champion, each champion swaps on its own."""

from __future__ import annotations

import pytest

from contracts import HOUSE_PRICES, ModelPromoted, PredictionRequested
from mlbus.datagen import RecordGenerator
from services.common.spec_catalogue import SpecCatalogue
from services.predictor.config import Settings
from services.predictor.servings import Servings
from tests.service.predictor.conftest import Predictor
from tests.support.spec_samples import registered, rentals
from tests.unit.predictor.predictor_fixtures import (
    FakeRegistries,
    named_version,
    scaling_model_bytes,
)

HOUSES = HOUSE_PRICES.name


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """A batch waits this long for a missing champion (then is handed back), or for the spec of
    an unknown data set (then its requests are dead-lettered)."""
    waits = {"model_wait_seconds": 0.05, "unknown_dataset_wait_seconds": 0.05}
    return settings.model_copy(update=waits)


@pytest.fixture
def registry() -> FakeRegistries:
    """Replaces the conftest's one-model registry: it answers for every model."""
    return FakeRegistries()


def _promote(registries: FakeRegistries, model_name: str, version: int, scale: float) -> str:
    """Make a version predicting `scale` x area the champion of `model_name`; its sha256."""
    data = scaling_model_bytes("area", scale)
    metadata = named_version(model_name, version, data)
    registries.of(model_name).promote(metadata, data)
    return metadata.sha256


def _request(record_id: str, dataset: str, area: float) -> PredictionRequested:
    return PredictionRequested(record_id=record_id, dataset=dataset, features={"area": area})


async def _learn_rentals(predictor: Predictor) -> None:
    """The catalogue learns rentals, as the spec feed would, and the champions load."""
    catalogue: SpecCatalogue = predictor.app.state.catalogue
    catalogue.learn(registered(rentals()))
    servings: Servings = predictor.app.state.servings
    await servings.load_champions(timeout_seconds=5)


async def _send(predictor: Predictor, *requests: PredictionRequested) -> None:
    await predictor.broker.publish_batch(*requests, topic=predictor.topics.predict_requests)


async def test_each_record_is_scored_by_its_data_sets_champion(
    predictor: Predictor, registry: FakeRegistries
) -> None:
    _promote(registry, HOUSES, 1, scale=2.0)
    _promote(registry, "rentals", 1, scale=3.0)
    await predictor.wait_for_version(1)
    await _learn_rentals(predictor)
    await _send(
        predictor,
        _request("h1", HOUSES, 10.0),
        _request("r1", "rentals", 10.0),
        _request("x1", "nowhere", 10.0),
        _request("h2", HOUSES, 20.0),
    )
    made = [(r.record_id, r.model_name, r.prediction) for r in predictor.results]
    assert made == [("h1", HOUSES, 20.0), ("h2", HOUSES, 40.0), ("r1", "rentals", 30.0)]
    [rejected] = predictor.rejected
    assert rejected.record_id == "x1"
    assert [reason.rule for reason in rejected.reasons] == ["dataset"]
    counted = 'mlbus_predictor_predictions_total{model="%s",version="1"}'
    assert await predictor.metric(counted % HOUSES) == 2
    assert await predictor.metric(counted % "rentals") == 1
    # An unknown data set names no model: its rejection counts under the fixed model="".
    assert await predictor.metric('mlbus_predictor_rejected_total{model=""}') == 1
    assert await predictor.metric_total("mlbus_predictor_rejected_total") == 1


async def test_a_promotion_swaps_only_its_own_models_champion(
    predictor: Predictor, registry: FakeRegistries
) -> None:
    _promote(registry, HOUSES, 1, scale=2.0)
    _promote(registry, "rentals", 1, scale=3.0)
    await predictor.wait_for_version(1)
    await _learn_rentals(predictor)
    houses_v1 = predictor.holder.current
    sha = _promote(registry, "rentals", 2, scale=5.0)
    event = ModelPromoted(model_name="rentals", version=2, sha256=sha, reason="better")
    await predictor.broker.publish(event, topic=predictor.topics.models)

    assert predictor.holder.current is houses_v1  # untouched
    await _send(predictor, _request("r1", "rentals", 1.0), _request("h1", HOUSES, 1.0))
    made = [(r.record_id, r.model_name, r.model_version) for r in predictor.results]
    assert made == [("r1", "rentals", 2), ("h1", HOUSES, 1)]
    assert await predictor.metric('mlbus_predictor_model_version{model="rentals"}') == 2
    assert await predictor.metric(f'mlbus_predictor_model_version{{model="{HOUSES}"}}') == 1


async def test_a_data_set_without_a_champion_holds_back_its_whole_batch(
    predictor: Predictor, registry: FakeRegistries
) -> None:
    _promote(registry, HOUSES, 1, scale=2.0)
    await predictor.wait_for_version(1)
    await _learn_rentals(predictor)  # registered, but no model of it yet
    await _send(predictor, _request("h1", HOUSES, 1.0), _request("r1", "rentals", 1.0))
    # Handed back to Kafka whole (a nack), to be scored once rentals has a champion: the
    # houses record waits too, as they share the batch (and the partition).
    assert predictor.results == []
    assert predictor.rejected == []
    await _send(predictor, _request("h2", HOUSES, 1.0))  # a batch of houses alone is scored
    assert [r.record_id for r in predictor.results] == ["h2"]


async def test_model_lists_every_data_sets_model(
    predictor: Predictor, registry: FakeRegistries
) -> None:
    _promote(registry, HOUSES, 3, scale=2.0)
    await predictor.wait_for_version(3)
    await _learn_rentals(predictor)  # no rentals champion yet
    served = (await predictor.http.get("/model")).json()
    assert (served["model_name"], served["version"]) == (HOUSES, 3)  # the start-up model, as before
    listed = [(m["dataset"], m["model_name"], m["loaded"]) for m in served["models"]]
    assert listed == [(HOUSES, HOUSES, True), ("rentals", "rentals", False)]
    readyz = (await predictor.http.get("/readyz")).json()
    assert [m["version"] for m in readyz["models"]] == [3, None]


async def test_predict_over_http_scores_with_the_named_data_sets_champion(
    predictor: Predictor, registry: FakeRegistries
) -> None:
    _promote(registry, HOUSES, 1, scale=2.0)
    _promote(registry, "rentals", 1, scale=3.0)
    await predictor.wait_for_version(1)
    await _learn_rentals(predictor)
    record = {"record_id": "r1", "features": {"area": 10, "rooms": 2, "district": "north"}}
    answer = await predictor.http.post("/predict?dataset=rentals", json=record)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["model_name"], body["predictions"][0]["prediction"]) == ("rentals", 30.0)
    [features] = RecordGenerator(seed=1).records(1, labelled=False)
    house = (await predictor.http.post("/predict", json={"features": features})).json()
    assert house["model_name"] == HOUSES  # no data set named: the start-up one
    unknown = await predictor.http.post("/predict?dataset=nowhere", json=record)
    assert unknown.status_code == 404
    assert "nowhere" in unknown.json()["detail"]
