"""A Serving per data set: made as data sets are learned, each following its own model."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from contracts import HOUSE_PRICES, ModelPromoted, ModelRefused
from services.common.spec_catalogue import SpecCatalogue
from services.predictor.metrics import PredictorMetrics
from services.predictor.serving import Serving
from services.predictor.servings import Servings
from tests.support.classifiers import (
    BINARY,
    built_classifier,
    classification_spec,
    classifier_card,
    classifier_version,
)
from tests.support.spec_samples import registered, rentals
from tests.unit.predictor.predictor_fixtures import (
    FakeRegistries,
    named_version,
    scaling_model_bytes,
)

HOUSES = HOUSE_PRICES.name


async def _ignore_refusal(event: ModelRefused) -> None:
    """Refusals are not under test here."""


def _servings(
    registries: FakeRegistries, metrics: PredictorMetrics, catalogue: SpecCatalogue
) -> Servings:
    return Servings(
        registries, metrics, catalogue, default_model_name="houses-v", on_refused=_ignore_refusal
    )


def _promoted(model_name: str, version: int, sha: str) -> ModelPromoted:
    return ModelPromoted(model_name=model_name, version=version, sha256=sha, reason="better")


def _promote(registries: FakeRegistries, model_name: str, version: int, scale: float) -> str:
    data = scaling_model_bytes("area", scale)
    metadata = named_version(model_name, version, data)
    registries.of(model_name).promote(metadata, data)
    return metadata.sha256


@pytest.fixture
def catalogue() -> SpecCatalogue:
    return SpecCatalogue(HOUSE_PRICES)


@pytest.fixture
def registries() -> FakeRegistries:
    return FakeRegistries()


@pytest.fixture
def servings(
    registries: FakeRegistries, metrics: PredictorMetrics, catalogue: SpecCatalogue
) -> Servings:
    return _servings(registries, metrics, catalogue)


def test_the_start_up_data_set_keeps_its_configured_model_name(servings: Servings) -> None:
    assert [(dataset, s.model_name) for dataset, s in servings] == [(HOUSES, "houses-v")]
    assert servings.default is servings.for_dataset(HOUSES)
    assert servings.for_model("houses-v") is servings.default
    assert servings.for_dataset("rentals") is None


def test_a_learned_data_set_gets_a_serving_named_after_it(
    servings: Servings, catalogue: SpecCatalogue
) -> None:
    catalogue.learn(registered(rentals()))
    serving = servings.for_dataset("rentals")
    assert serving is not None
    assert serving.model_name == "rentals"
    assert servings.for_model("rentals") is serving
    assert serving.champion.spec == rentals()
    assert len(servings) == 2


def test_data_sets_known_before_it_is_made_are_served_too(
    registries: FakeRegistries, metrics: PredictorMetrics, catalogue: SpecCatalogue
) -> None:
    catalogue.learn(registered(rentals()))
    servings = _servings(registries, metrics, catalogue)
    assert [dataset for dataset, _ in servings] == [HOUSES, "rentals"]


def test_a_data_set_whose_name_cannot_name_a_model_is_not_served(
    servings: Servings, catalogue: SpecCatalogue
) -> None:
    long_name = "r" * 70  # a valid data set name; model names stop at 64 characters
    catalogue.learn(registered(rentals(name=long_name)))
    assert servings.for_dataset(long_name) is None
    assert len(servings) == 1


def test_a_new_spec_version_is_handed_to_the_data_sets_serving(
    servings: Servings, catalogue: SpecCatalogue
) -> None:
    catalogue.learn(registered(rentals()))
    serving = servings.for_dataset("rentals")
    assert serving is not None
    newer = rentals(target={"name": "rent", "min": 0, "max": 20_000})
    catalogue.learn(registered(newer, version=2))
    assert servings.for_dataset("rentals") is serving  # the same Serving, its models kept
    assert (serving.champion.spec, serving.challenger.spec) == (newer, newer)
    assert serving.champion.retry_wanted.is_set()  # the reload loop reloads under the new spec


async def test_a_new_spec_version_reloads_the_champion_serving(
    servings: Servings, catalogue: SpecCatalogue, registries: FakeRegistries
) -> None:
    catalogue.learn(registered(rentals()))
    _promote(registries, "rentals", 1, scale=3.0)
    serving = servings.for_dataset("rentals")
    assert serving is not None
    await serving.champion.reload()
    before = serving.champion.holder.current
    await serving.champion.reload()
    assert serving.champion.holder.current is before  # unchanged: not loaded again
    catalogue.learn(registered(rentals(), version=2))  # the same spec, registered again
    await serving.champion.reload()
    assert serving.champion.holder.current is before
    catalogue.learn(registered(rentals(target={"name": "rent", "min": 1}), version=3))
    await serving.champion.reload()
    reloaded = serving.champion.holder.current
    assert reloaded is not before
    assert reloaded is not None
    assert reloaded.version == 1
    assert registries.of("rentals").downloads == 2


async def test_model_events_swap_only_the_named_models_champion(
    servings: Servings, catalogue: SpecCatalogue, registries: FakeRegistries
) -> None:
    catalogue.learn(registered(rentals()))
    rentals_serving, houses = servings.for_dataset("rentals"), servings.default
    assert rentals_serving is not None
    await servings.follow(_promoted("rentals", 1, _promote(registries, "rentals", 1, 3.0)))
    first = rentals_serving.champion.holder.current
    assert first is not None
    assert first.version == 1
    assert houses.champion.holder.current is None
    assert "houses-v" not in registries.asked  # an event of rentals asks only about rentals

    await servings.follow(_promoted("rentals", 2, _promote(registries, "rentals", 2, 5.0)))
    second = rentals_serving.champion.holder.current
    assert second is not None
    assert second.version == 2
    assert second.predict([{"area": 1.0}]).tolist() == [5.0]


async def test_events_of_models_served_by_none_are_ignored(
    servings: Servings, registries: FakeRegistries
) -> None:
    await servings.follow(_promoted("elsewhere", 1, "0" * 64))
    assert registries.asked == []


@pytest.fixture
async def reloading(servings: Servings) -> AsyncIterator[Servings]:
    """`servings` with its reload loops running."""
    task = asyncio.create_task(servings.keep_loaded(poll_seconds=0.01, recheck_seconds=60))
    yield servings
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_the_reload_loop_covers_data_sets_learned_while_it_runs(
    reloading: Servings, catalogue: SpecCatalogue, registries: FakeRegistries
) -> None:
    _promote(registries, "houses-v", 1, scale=2.0)
    await asyncio.wait_for(reloading.default.champion.holder.wait_ready(), 5)
    catalogue.learn(registered(rentals()))
    _promote(registries, "rentals", 4, scale=3.0)
    serving = reloading.for_dataset("rentals")
    assert serving is not None
    model = await asyncio.wait_for(serving.champion.holder.wait_ready(), 5)
    assert model.version == 4
    houses = reloading.default.champion.holder.current
    assert houses is not None
    assert houses.version == 1


async def test_a_surprise_in_one_models_reloads_stops_no_other(
    reloading: Servings, catalogue: SpecCatalogue, registries: FakeRegistries
) -> None:
    registries.failing.add("houses-v")
    catalogue.learn(registered(rentals()))
    _promote(registries, "rentals", 1, scale=3.0)
    serving = reloading.for_dataset("rentals")
    assert serving is not None
    await asyncio.wait_for(serving.champion.holder.wait_ready(), 5)
    _promote(registries, "houses-v", 1, scale=2.0)
    registries.failing.clear()  # its loop was restarted, and now gets an answer
    await asyncio.wait_for(reloading.default.champion.holder.wait_ready(), 5)


async def test_champions_load_at_start_for_every_known_data_set(
    servings: Servings, catalogue: SpecCatalogue, registries: FakeRegistries
) -> None:
    catalogue.learn(registered(rentals()))
    _promote(registries, "houses-v", 1, scale=2.0)
    _promote(registries, "rentals", 1, scale=3.0)
    await servings.load_champions(timeout_seconds=5)
    assert all(s.champion.holder.current is not None for _, s in servings)
    waiting = servings.waiting()
    assert [(w["dataset"], w["model_name"], w["version"]) for w in waiting] == [
        (HOUSES, "houses-v", 1),
        ("rentals", "rentals", 1),
    ]


async def test_a_new_threshold_in_the_spec_applies_to_the_champion_serving(
    servings: Servings, catalogue: SpecCatalogue, registries: FakeRegistries
) -> None:
    spec = classification_spec(BINARY, threshold=0.5)
    catalogue.learn(registered(spec))
    built = built_classifier(BINARY)
    registries.of(spec.name).promote(
        classifier_version(1, built.onnx, classifier_card(spec, built.classes)), built.onnx
    )
    serving = servings.for_dataset(spec.name)
    assert serving is not None
    await serving.champion.reload()
    assert _threshold(serving) == 0.5
    catalogue.learn(registered(classification_spec(BINARY, threshold=0.9), version=2))
    await serving.champion.reload()
    assert _threshold(serving) == 0.9


def _threshold(serving: Serving) -> float | None:
    model = serving.champion.holder.current
    assert model is not None
    assert model.rule is not None
    return model.rule.threshold
