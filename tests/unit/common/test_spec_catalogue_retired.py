"""Retired data sets in the spec catalogue: retired by SpecRetired, back with a newer version."""

from __future__ import annotations

from contracts import HOUSE_PRICES
from services.common.spec_catalogue import KnownSpec, SpecCatalogue
from tests.support.spec_samples import registered, rentals, retired


def changes_of(catalogue: SpecCatalogue) -> list[tuple[int, bool, bool | None]]:
    seen: list[tuple[int, bool, bool | None]] = []
    catalogue.on_change(
        lambda now, before: seen.append(
            (now.version, now.retired, None if before is None else before.retired)
        )
    )
    return seen


def test_a_retirement_marks_the_data_set_and_tells_the_listeners() -> None:
    catalogue = SpecCatalogue(HOUSE_PRICES)
    changes = changes_of(catalogue)
    catalogue.learn(registered(rentals(), version=2))
    assert catalogue.learn(retired("rentals", version=2, reason="moved"))
    assert catalogue.get("rentals") == KnownSpec(rentals(), 2, 1, retired=True)
    retirement = catalogue.retirement("rentals")
    assert retirement is not None
    assert retirement.reason == "moved"
    assert changes == [(2, False, None), (2, True, False)]
    assert not catalogue.learn(retired("rentals", version=2))  # the topic read again
    assert len(changes) == 2


def test_a_newer_version_brings_a_retired_data_set_back() -> None:
    catalogue = SpecCatalogue(HOUSE_PRICES)
    catalogue.learn(registered(rentals(), version=1))
    catalogue.learn(retired("rentals", version=1))
    assert not catalogue.learn(registered(rentals(), version=1))  # a replay: still retired
    assert catalogue.learn(registered(rentals(), version=2))
    assert catalogue.get("rentals") == KnownSpec(rentals(), 2, 1, retired=False)
    assert catalogue.retirement("rentals") is None


def test_a_retirement_older_than_the_known_version_is_a_replay() -> None:
    catalogue = SpecCatalogue(HOUSE_PRICES)
    catalogue.learn(registered(rentals(), version=3))
    assert not catalogue.learn(retired("rentals", version=2))
    assert catalogue.retirement("rentals") is None
    assert catalogue.get("rentals") == KnownSpec(rentals(), 3, 1)


def test_a_retirement_is_kept_when_compaction_removed_the_data_sets_spec() -> None:
    catalogue = SpecCatalogue(HOUSE_PRICES)
    assert catalogue.learn(retired("rentals", version=4))
    assert catalogue.get("rentals") is None
    assert catalogue.retirement("rentals") is not None
    assert catalogue.learn(registered(rentals(), version=5))
    assert catalogue.retirement("rentals") is None


def test_the_start_up_data_set_may_be_retired_too() -> None:
    catalogue = SpecCatalogue(HOUSE_PRICES)
    catalogue.learn(retired(HOUSE_PRICES.name, version=1))
    assert catalogue.default.retired
    assert catalogue.retirement(None) is not None
