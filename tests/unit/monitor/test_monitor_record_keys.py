"""Late labels join predictions within their own data set: the same id in two is two records."""

from __future__ import annotations

from contracts import HOUSE_PRICES
from services.common.spec_catalogue import SpecCatalogue
from services.monitor.live_error import LabelJoiner, Scored
from services.monitor.record_keys import RecordKeys
from tests.support.spec_samples import registered, rentals


def keys() -> RecordKeys:
    catalogue = SpecCatalogue(HOUSE_PRICES)
    catalogue.learn(registered(rentals()))
    return RecordKeys(catalogue)


def test_each_data_set_joins_its_own_ids() -> None:
    joiner, k = LabelJoiner(window_size=1), keys()
    joiner.add_predictions(
        [
            (k.of_prediction("house-prices", "7"), Scored("house-prices", 1, "champion", 100.0)),
            (k.of_prediction("rentals", "7"), Scored("rentals", 1, "champion", 900.0)),
        ]
    )
    touched = joiner.add_labels([(k.of_label("rentals", "7"), 1000.0)])
    assert touched == {("rentals", 1, "champion")}
    last = joiner.windows[("rentals", 1, "champion")].last
    assert last is not None
    assert last.mae == 100.0
    assert joiner.buffered() == (1, 1)  # house-prices' prediction 7 still waits for its label


def test_the_start_up_data_set_joins_whatever_its_model_is_called() -> None:
    k = keys()
    assert k.of_prediction("my-house-model", "7") == k.of_label("house-prices", "7") == (None, "7")
    assert k.of_prediction("rentals", "7") == k.of_label("rentals", "7") == ("rentals", "7")


def test_a_data_set_not_learned_yet_joins_like_the_start_up_one_on_both_sides() -> None:
    k = keys()
    assert k.of_prediction("churn", "7") == k.of_label("churn", "7") == (None, "7")


def test_without_a_catalogue_ids_join_as_they_are() -> None:
    assert RecordKeys().of_label("rentals", "7") == RecordKeys().of_prediction("x", "7")
