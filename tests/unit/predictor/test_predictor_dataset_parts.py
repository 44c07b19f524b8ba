"""A batch split by data set: each part scored by its own champion, unknown data sets
dead-lettered, a missing champion waited for."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest

from contracts import HOUSE_PRICES, ModelRefused, PredictionRequested
from services.common.spec_catalogue import SpecCatalogue
from services.predictor.dataset_parts import DATASET_RULE, by_dataset, champions, start_parts
from services.predictor.metrics import PredictorMetrics
from services.predictor.request_batch import RawRequest, RequestBatch, parse_requests
from services.predictor.servings import Servings
from tests.support.spec_samples import registered, rentals
from tests.unit.predictor.predictor_fixtures import (
    FakeRegistries,
    named_version,
    scaling_model_bytes,
)

HOUSES = HOUSE_PRICES.name


async def _ignore_refusal(event: ModelRefused) -> None:
    """Refusals are not under test here."""


def _batch(*rows: tuple[str, str, float]) -> RequestBatch:
    """Requests of (record id, data set, area), in that order."""
    raws = [
        RawRequest(
            PredictionRequested(record_id=rid, dataset=dataset, features={"area": area})
            .model_dump_json()
            .encode(),
            "requests",
            partition=0,
            offset=offset,
        )
        for offset, (rid, dataset, area) in enumerate(rows)
    ]
    parsed, rejected = parse_requests(raws)
    assert rejected == []
    return parsed


@pytest.fixture
def registries() -> FakeRegistries:
    return FakeRegistries()


@pytest.fixture
def servings(registries: FakeRegistries, metrics: PredictorMetrics) -> Servings:
    catalogue = SpecCatalogue(HOUSE_PRICES)
    catalogue.learn(registered(rentals()))
    return Servings(
        registries, metrics, catalogue, default_model_name=HOUSES, on_refused=_ignore_refusal
    )


async def _serve(
    servings: Servings, registries: FakeRegistries, dataset: str, scale: float
) -> None:
    """Promote a model predicting `scale` x area for `dataset`, and load it."""
    data = scaling_model_bytes("area", scale)
    registries.of(dataset).promote(named_version(dataset, 1, data), data)
    serving = servings.for_dataset(dataset)
    assert serving is not None
    await serving.champion.reload()


async def test_a_batch_of_one_data_set_is_one_part_as_it_came(servings: Servings) -> None:
    batch = _batch(("a", HOUSES, 1.0), ("b", HOUSES, 2.0))
    served, rejected = await by_dataset(batch, servings, 0.0)
    assert rejected == []
    assert [(serving, part) for serving, part in served] == [(servings.default, batch)]


async def test_a_mixed_batch_splits_by_data_set_keeping_each_ones_order(servings: Servings) -> None:
    batch = _batch(
        ("r1", "rentals", 1.0),
        ("h1", HOUSES, 2.0),
        ("r1", "rentals", 3.0),
        ("h2", HOUSES, 4.0),
        ("r2", "rentals", 5.0),
    )
    served, rejected = await by_dataset(batch, servings, 0.0)
    assert rejected == []
    assert [serving.model_name for serving, _ in served] == ["rentals", HOUSES]
    rows = [
        [(e.record_id, f["area"]) for e, f in zip(p.events, p.features, strict=True)]
        for _, p in served
    ]
    assert rows == [[("r1", 1.0), ("r1", 3.0), ("r2", 5.0)], [("h1", 2.0), ("h2", 4.0)]]


async def test_requests_of_an_unknown_data_set_are_dead_lettered_alone(servings: Servings) -> None:
    batch = _batch(("h1", HOUSES, 1.0), ("x1", "nowhere", 2.0), ("h2", HOUSES, 3.0))
    served, rejected = await by_dataset(batch, servings, 0.0)
    assert [[e.record_id for e in part.events] for _, part in served] == [["h1", "h2"]]
    [rejection] = rejected
    assert (rejection.record_id, rejection.offset, rejection.source) == ("x1", 1, "requests")
    [reason] = rejection.reasons
    assert reason.rule == DATASET_RULE
    assert "unknown data set 'nowhere'" in reason.message
    assert '"nowhere"' in rejection.original  # the request as it came


async def test_each_part_is_scored_by_its_own_champion(
    servings: Servings, registries: FakeRegistries
) -> None:
    await _serve(servings, registries, HOUSES, scale=2.0)
    await _serve(servings, registries, "rentals", scale=3.0)
    batch = _batch(("h1", HOUSES, 10.0), ("r1", "rentals", 10.0), ("h2", HOUSES, 20.0))
    served, _ = await by_dataset(batch, servings, 0.0)
    models = await champions(served, timeout_seconds=1)
    assert models is not None
    with ThreadPoolExecutor(max_workers=1) as executor:
        parts = start_parts(served, models, shadow_fraction=1.0, executor=executor)
        scored = [await part.scored for part in parts]
    made = [[(p.record_id, p.model_name, p.prediction) for p in s.predictions] for s in scored]
    assert made == [[("h1", HOUSES, 20.0), ("h2", HOUSES, 40.0)], [("r1", "rentals", 30.0)]]
    assert all(part.shadowed is None for part in parts)  # no challenger anywhere


async def test_a_part_without_a_champion_holds_the_batch_until_its_wait_ends(
    servings: Servings, registries: FakeRegistries
) -> None:
    await _serve(servings, registries, HOUSES, scale=2.0)
    served, _ = await by_dataset(_batch(("h1", HOUSES, 1.0), ("r1", "rentals", 1.0)), servings, 0.0)
    assert await champions(served, timeout_seconds=0.05) is None

    waiting = asyncio.create_task(champions(served, timeout_seconds=5))
    await asyncio.sleep(0.01)
    await _serve(servings, registries, "rentals", scale=3.0)  # its champion arrives meanwhile
    models = await waiting
    assert models is not None
    assert [model.name for model in models] == [HOUSES, "rentals"]


async def test_a_data_set_learned_within_the_wait_is_scored_not_dead_lettered(
    registries: FakeRegistries, metrics: PredictorMetrics
) -> None:
    catalogue = SpecCatalogue(HOUSE_PRICES)  # rentals not known yet
    servings = Servings(
        registries, metrics, catalogue, default_model_name=HOUSES, on_refused=_ignore_refusal
    )
    batch = _batch(("r1", "rentals", 1.0), ("h1", HOUSES, 1.0))
    splitting = asyncio.create_task(by_dataset(batch, servings, wait_seconds=5))
    await asyncio.sleep(0.01)
    catalogue.learn(registered(rentals()))  # the spec feed catches up with ingest
    served, rejected = await splitting
    assert rejected == []
    assert [serving.model_name for serving, _ in served] == ["rentals", HOUSES]


async def test_an_unknown_data_set_is_waited_for_once_then_dead_lettered_at_once(
    servings: Servings,
) -> None:
    batch = _batch(("x1", "nowhere", 1.0), ("h1", HOUSES, 1.0))
    loop = asyncio.get_running_loop()
    started = loop.time()
    _, rejected = await by_dataset(batch, servings, wait_seconds=0.2)
    assert loop.time() - started >= 0.2
    assert [r.record_id for r in rejected] == ["x1"]
    started = loop.time()
    _, rejected = await by_dataset(batch, servings, wait_seconds=5)  # not waited for again
    assert loop.time() - started < 1
    assert [r.record_id for r in rejected] == ["x1"]
