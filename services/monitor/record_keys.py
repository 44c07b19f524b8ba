"""Which data set a late label and a prediction belong to: record ids join within one data set.

Record ids are unique within a data set only. A label names its data set; a prediction names
its model, and a data set's model is named after it, except that the start-up data set's model
may be named otherwise (MLBUS_TRAINER_MODEL_NAME). So a prediction of a model named after a
known data set belongs to that data set, and any other to the start-up data set, whose ids
join under None as they did before a stack held many data sets (as do the ids of a data set
the monitor has not learned: on both sides alike).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.common.spec_catalogue import SpecCatalogue

RecordKey = tuple[str | None, str]  # (data set, or None for the start-up one; record id)


class RecordKeys:
    """Join keys from the catalogue of data sets; without one, every id joins as it is."""

    def __init__(self, catalogue: SpecCatalogue | None = None) -> None:
        self._catalogue = catalogue

    def of_label(self, dataset: str, record_id: str) -> RecordKey:
        return self._scope(dataset), record_id

    def of_prediction(self, model_name: str, record_id: str) -> RecordKey:
        return self._scope(model_name), record_id

    def _scope(self, name: str) -> str | None:
        """`name` when it is a known data set other than the start-up one; else None."""
        catalogue = self._catalogue
        if catalogue is None or name == catalogue.default.dataset or catalogue.get(name) is None:
            return None
        return name
