"""Every data set's models: one Serving (champion and challenger) per data set the predictor
knows, made as the spec catalogue learns data sets at run time, each hot-swapped on its own."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from services.common.settings import model_name_for
from services.predictor.serving import RefusalSink, Serving

if TYPE_CHECKING:
    from collections.abc import Iterator

    from contracts.events import ModelEvent
    from services.common.spec_catalogue import KnownSpec, SpecCatalogue
    from services.predictor.metrics import PredictorMetrics
    from services.predictor.registry_client import ModelSource

log = logging.getLogger(__name__)

MAX_NOT_ARRIVED = 10_000  # unknown data set names remembered (not waited for again)


class Servings:
    """The Serving of each known data set. The start-up data set's model may have a configured
    name; every other data set's model is named after the data set, as the trainer names it."""

    def __init__(
        self,
        source: ModelSource,
        metrics: PredictorMetrics,
        catalogue: SpecCatalogue,
        *,
        default_model_name: str,
        on_refused: RefusalSink,
    ) -> None:
        self._source = source
        self._metrics = metrics
        self._on_refused = on_refused
        self._by_dataset: dict[str, Serving] = {}
        self._by_model: dict[str, Serving] = {}
        self._added = asyncio.Event()  # wakes keep_loaded: a new Serving needs its reload loop
        self._waiters: dict[str, list[asyncio.Future[Serving]]] = {}  # see `arriving`
        self._not_arrived: set[str] = set()  # unknown data sets already waited for in vain
        self.default_dataset = catalogue.default.dataset
        self._add(catalogue.default, default_model_name)
        for name in catalogue.names():
            known = catalogue.get(name)
            if known is not None and name != self.default_dataset:
                self._add(known, None)
        catalogue.on_change(self._learned)

    @property
    def default(self) -> Serving:
        """The start-up data set's: readiness and POST /predict follow it."""
        return self._by_dataset[self.default_dataset]

    def for_dataset(self, dataset: str) -> Serving | None:
        return self._by_dataset.get(dataset)

    def for_model(self, model_name: str) -> Serving | None:
        return self._by_model.get(model_name)

    async def arriving(self, dataset: str, timeout_seconds: float) -> Serving | None:
        """The data set's Serving. One not known yet is waited for, up to `timeout_seconds`,
        the first time it is asked about: the spec feed may learn a new data set a moment
        after ingest does, and its first records must not be dead-lettered for that."""
        serving = self._by_dataset.get(dataset)
        if serving is not None or dataset in self._not_arrived:
            return serving
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(dataset, []).append(waiter)
        try:
            return await asyncio.wait_for(waiter, timeout_seconds)
        except TimeoutError:
            if len(self._not_arrived) >= MAX_NOT_ARRIVED:  # bounded, whatever names come in
                self._not_arrived.clear()
            self._not_arrived.add(dataset)
            return None
        finally:
            self._forget(dataset, waiter)

    def _forget(self, dataset: str, waiter: asyncio.Future[Serving]) -> None:
        waiters = self._waiters.get(dataset, [])
        if waiter in waiters:
            waiters.remove(waiter)
        if not waiters:
            self._waiters.pop(dataset, None)

    def __iter__(self) -> Iterator[tuple[str, Serving]]:
        """(data set, its Serving), in the order they were learned."""
        return iter(list(self._by_dataset.items()))

    def __len__(self) -> int:
        return len(self._by_dataset)

    async def follow(self, event: ModelEvent) -> None:
        """Reload the aliases of the model an event names; models served by none are ignored."""
        serving = self._by_model.get(event.model_name)
        if serving is not None:
            await serving.follow(event)

    async def load_champions(self, timeout_seconds: float) -> None:
        """Serve each data set's champion from the first batch on: one bounded try each, the
        start-up data set's first (readiness waits for it)."""
        await self.default.load_champion(timeout_seconds)
        others = [s for dataset, s in self if dataset != self.default_dataset]
        await asyncio.gather(*(s.load_champion(timeout_seconds) for s in others))

    def waiting(self) -> list[dict[str, object]]:
        """For /readyz: each data set's champion, and what it waits for while none serves."""
        return [{"dataset": dataset} | s.champion.waiting() for dataset, s in self]

    async def keep_loaded(self, *, poll_seconds: float, recheck_seconds: float) -> None:
        """Until cancelled: each Serving's reload loop (`Serving.keep_loaded`), one task each,
        including those of data sets learned meanwhile."""
        started: set[str] = set()
        async with asyncio.TaskGroup() as group:
            while True:
                self._added.clear()
                for dataset, serving in self:
                    if dataset not in started:
                        started.add(dataset)
                        loop = _keep_one_loaded(serving, poll_seconds, recheck_seconds)
                        group.create_task(loop, name=f"predictor-models-{dataset}")
                await self._added.wait()

    def _learned(self, now: KnownSpec, before: KnownSpec | None) -> None:
        serving = self._by_dataset.get(now.dataset)
        if serving is None:
            self._add(now, None)
        elif now.spec != serving.champion.spec:  # e.g. the start-up spec, registered as it is
            log.info("predictor: %s spec v%d: its models are checked again", *_about(now))
            serving.respec(now.spec)

    def _add(self, known: KnownSpec, model_name: str | None) -> None:
        try:
            name = model_name or model_name_for(known.spec, "")
        except ValueError as exc:  # its records are dead-lettered as of an unserved data set
            log.error("predictor: data set %r cannot be served: %s", known.dataset, exc)
            return
        if name in self._by_model:
            log.error(
                "predictor: data set %r: model %r already serves another", known.dataset, name
            )
            return
        serving = Serving.of(
            self._source, name, self._metrics, spec=known.spec, on_refused=self._on_refused
        )
        self._by_dataset[known.dataset] = serving
        self._by_model[name] = serving
        self._added.set()
        self._not_arrived.discard(known.dataset)
        for waiter in self._waiters.pop(known.dataset, []):
            if not waiter.done():
                waiter.set_result(serving)
        log.info("predictor: data set %r served by model %r", known.dataset, name)


async def _keep_one_loaded(serving: Serving, poll_seconds: float, recheck_seconds: float) -> None:
    """One Serving's reload loop; a surprise in one model's reload stops no other model's."""
    while True:
        try:
            await serving.keep_loaded(poll_seconds=poll_seconds, recheck_seconds=recheck_seconds)
        except Exception:
            log.exception("predictor: reloading %s failed; trying again", serving.model_name)
            await asyncio.sleep(poll_seconds)


def _about(known: KnownSpec) -> tuple[str, int]:
    return known.dataset, known.version
