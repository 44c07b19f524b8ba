"""One training coordinator per data set the trainer knows, and the routing of events to them.

The start-up data set trains with the settings as they are (its model name may be configured);
every data set learned at run time trains the model named after it, with the same settings
otherwise. Records of a data set not known yet are held until it is (services.trainer.pending).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from services.common.settings import model_name_for
from services.common.spec_catalogue import LOCAL_VERSION, KnownSpec, SpecCatalogue
from services.trainer.coordinator import TrainingCoordinator
from services.trainer.pending import PendingRecords
from services.trainer.training import validate_hyperparameters

if TYPE_CHECKING:
    from contracts import DatasetSpec, DriftDetected, RecordIngested, TrainModel
    from services.trainer.config import Settings
    from services.trainer.metrics import TrainerMetrics

log = logging.getLogger(__name__)

MakeCoordinator = Callable[["Settings"], TrainingCoordinator]


def dataset_settings(settings: Settings, spec: DatasetSpec) -> Settings:
    """The start-up settings for another data set: its spec, the model named after it, and
    no hyperparameters if the configured ones do not fit its task (the estimator's defaults)."""
    hyperparameters = dict(settings.hyperparameters)
    try:
        validate_hyperparameters(settings.estimator, hyperparameters, spec.target.task)
    except ValueError as exc:
        log.warning("trainer: %s trains with the estimator's defaults: %s", spec.name, exc)
        hyperparameters = {}
    update = {
        "spec": spec,
        "model_name": model_name_for(spec, ""),
        "hyperparameters": hyperparameters,
    }
    return settings.model_copy(update=update)


def compatible(now: KnownSpec, before: KnownSpec) -> bool:
    """Whether the buffer of `before` may train `now`: the same major, or a local spec that
    the registry now announces (it declared no incompatibility)."""
    return before.major in (LOCAL_VERSION, now.major)


class TrainerDatasets:
    """The coordinators by data set, the records held for unknown ones, and event routing."""

    def __init__(
        self,
        catalogue: SpecCatalogue,
        settings: Settings,
        metrics: TrainerMetrics,
        make_coordinator: MakeCoordinator,
        *,
        hold_unknown: bool = True,
    ) -> None:
        self._settings = settings
        self._metrics = metrics
        self._make = make_coordinator
        # Without a spec feed no data set is ever learned: holding records would only drop them.
        self._hold_unknown = hold_unknown
        self.pending = PendingRecords(metrics)
        self.default = make_coordinator(settings)
        self._by_dataset = {settings.spec.name: self.default}
        for name in catalogue.names():  # learned before us (none but ours at start-up)
            known = catalogue.get(name)
            if known is not None:
                self.learn(known, None)
        catalogue.on_change(self.learn)

    @property
    def coordinators(self) -> dict[str, TrainingCoordinator]:
        return dict(sorted(self._by_dataset.items()))

    def get(self, dataset: str) -> TrainingCoordinator | None:
        return self._by_dataset.get(dataset)

    def learn(self, now: KnownSpec, before: KnownSpec | None) -> None:
        """A catalogue listener: train a new data set, or take a data set's new spec."""
        coordinator = self._by_dataset.get(now.dataset)
        if coordinator is not None:
            keep = before is None or compatible(now, before)
            coordinator.adopt(now.spec, compatible=keep, retired=now.retired)
            if not keep:
                log.info("trainer: %s major %d: an empty buffer", now.dataset, now.major)
            return
        try:
            settings = dataset_settings(self._settings, now.spec)
        except ValueError as exc:  # a data set name the registry refuses as a model name
            log.error("trainer: cannot train data set %s: %s", now.dataset, exc)
            return
        coordinator = self._make(settings)
        coordinator.retired = now.retired
        self._by_dataset[now.dataset] = coordinator
        held = self.pending.release(now.dataset)
        log.info("trainer: training %s (%d held records)", coordinator.model_name, len(held))
        if held:
            coordinator.add_records(held)

    def add_records(self, records: Iterable[RecordIngested]) -> None:
        """Hand each data set's records to its coordinator; hold those of unknown ones."""
        by_dataset: dict[str, list[RecordIngested]] = defaultdict(list)
        for record in records:
            by_dataset[record.dataset].append(record)
        for dataset, group in by_dataset.items():
            coordinator = self._by_dataset.get(dataset)
            if coordinator is not None:
                coordinator.add_records(group)
            elif self._hold_unknown:
                self.pending.hold(group)

    def on_command(self, command: TrainModel) -> bool:
        """Route a TrainModel: its data set if named, else the coordinator training its model,
        else the start-up data set (which then trains the model the command names)."""
        if command.dataset is not None:
            coordinator = self._by_dataset.get(command.dataset)
        else:
            coordinator = self._training(command.model_name) or self.default
        if coordinator is None:
            self._unrouted("command", f"data set {command.dataset}")
            return False
        return coordinator.on_command(command)

    def on_drift(self, event: DriftDetected) -> bool:
        """Route a DriftDetected to the coordinator training its model."""
        coordinator = self._training(event.model_name)
        if coordinator is None:
            self._unrouted("drift", f"model {event.model_name}")
            return False
        return coordinator.on_drift(event)

    def status(self) -> dict[str, Any]:
        """The start-up data set's status (as a single-data-set trainer's), and every one's."""
        datasets = {name: self.dataset_status(name) for name in self.coordinators}
        return datasets[self.default.settings.spec.name] | {
            "datasets": datasets,
            "records_pending": self.pending.datasets(),
        }

    def dataset_status(self, dataset: str) -> dict[str, Any]:
        coordinator = self._by_dataset[dataset]
        return {"dataset": dataset, "model": coordinator.model_name} | coordinator.status()

    async def close(self) -> None:
        """Drop pending runs and wait for the runs in progress."""
        for coordinator in self._by_dataset.values():
            await coordinator.runs.close()

    def _training(self, model_name: str | None) -> TrainingCoordinator | None:
        if model_name is None:
            return None
        if self.default.model_name == model_name:  # it may share its model name with another
            return self.default
        return next((c for c in self.coordinators.values() if c.model_name == model_name), None)

    def _unrouted(self, event: str, what: str) -> None:
        log.warning("trainer: skipping a %s event: %s is not trained here", event, what)
        self._metrics.unrouted.labels(event=event).inc()
