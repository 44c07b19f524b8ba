"""The spec catalogue: the start-up spec, then newer registered versions, each one announced."""

from __future__ import annotations

from contracts import HOUSE_PRICES
from services.common.spec_catalogue import KnownSpec, SpecCatalogue
from tests.support.spec_samples import churn, registered, rentals, with_feature


def test_records_naming_no_data_set_take_the_start_up_spec() -> None:
    catalogue = SpecCatalogue(HOUSE_PRICES)
    assert catalogue.get(None) == catalogue.default == KnownSpec(HOUSE_PRICES, 0, 0)
    assert catalogue.get("rentals") is None
    assert catalogue.names() == ("house-prices",)


def test_only_newer_versions_are_learned_and_each_is_announced() -> None:
    catalogue = SpecCatalogue(HOUSE_PRICES)
    changes: list[tuple[int, int | None]] = []
    catalogue.on_change(
        lambda now, before: changes.append(
            (now.version, None if before is None else before.version)
        )
    )
    wider = with_feature(rentals(), {"name": "floor", "type": "integer", "nullable": True})
    assert catalogue.learn(registered(rentals(), version=1))
    assert catalogue.learn(registered(wider, version=2))
    assert not catalogue.learn(registered(rentals(), version=1))  # the topic read again
    assert not catalogue.learn(registered(wider, version=2))
    assert catalogue.get("rentals") == KnownSpec(wider, 2, 1)
    assert changes == [(1, None), (2, 1)]
    assert catalogue.names() == ("house-prices", "rentals")


def test_any_registered_version_replaces_the_local_start_up_spec() -> None:
    catalogue = SpecCatalogue(HOUSE_PRICES)
    assert catalogue.learn(registered(HOUSE_PRICES, version=1))
    assert catalogue.default.version == 1


def test_an_announcement_whose_spec_names_another_data_set_is_ignored() -> None:
    catalogue = SpecCatalogue(HOUSE_PRICES)
    event = registered(churn()).model_copy(update={"dataset": "rentals"})
    assert not catalogue.learn(event)
    assert catalogue.get("rentals") is None
    assert catalogue.get("churn") is None
