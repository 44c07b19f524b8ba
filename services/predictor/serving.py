"""Which model serves: one swappable reference, and the reload of the registry's champion."""

from __future__ import annotations

import asyncio
import enum
import logging

from services.predictor.metrics import PredictorMetrics
from services.predictor.model import LoadedModel, ModelLoadError, load_model
from services.predictor.registry_client import (
    ArtifactIntegrityError,
    ChampionSource,
    RegistryError,
)

log = logging.getLogger(__name__)


class ModelHolder:
    """The model being served, as a single reference that `swap` replaces at once.

    A batch reads `current` once and scores with that model, so a swap never mixes two
    versions in one batch and never makes a batch wait.
    """

    def __init__(self) -> None:
        self._current: LoadedModel | None = None
        self._loaded = asyncio.Event()

    @property
    def current(self) -> LoadedModel | None:
        return self._current

    def swap(self, new: LoadedModel) -> LoadedModel | None:
        """Serve `new` from now on; returns the model it replaced."""
        old, self._current = self._current, new
        self._loaded.set()
        return old

    async def wait_ready(self) -> LoadedModel:
        """The current model, waiting for the first one if none is loaded yet."""
        await self._loaded.wait()
        assert self._current is not None  # the event is set only by swap
        return self._current


class ReloadOutcome(enum.Enum):
    LOADED = "loaded"  # a new version now serves
    UNCHANGED = "unchanged"  # the champion is already serving
    NO_CHAMPION = "no_champion"  # the registry has no champion for the model yet
    UNAVAILABLE = "unavailable"  # the registry could not be asked; try again later
    REFUSED = "refused"  # the champion failed verification or loading; the old model serves


class ChampionReloader:
    """Brings the registry's champion into the holder: load and warm beside the old, then swap."""

    def __init__(
        self,
        holder: ModelHolder,
        source: ChampionSource,
        model_name: str,
        metrics: PredictorMetrics,
    ) -> None:
        self.holder = holder
        self.source = source
        self.model_name = model_name
        self.metrics = metrics
        self._lock = asyncio.Lock()  # one reload at a time; the next one sees the newest alias

    async def reload_champion(self) -> ReloadOutcome:
        async with self._lock:
            try:
                return await self._reload()
            except RegistryError as exc:
                log.warning("predictor: cannot fetch the champion of %s: %s", self.model_name, exc)
                return ReloadOutcome.UNAVAILABLE

    async def _reload(self) -> ReloadOutcome:
        champion = await self.source.champion(self.model_name)
        if champion is None:
            log.info("predictor: %s has no champion yet", self.model_name)
            return ReloadOutcome.NO_CHAMPION
        current = self.holder.current
        if current is not None and (current.version, current.sha256) == (
            champion.version,
            champion.sha256.lower(),
        ):
            return ReloadOutcome.UNCHANGED
        label = f"{champion.model_name} v{champion.version}"
        try:
            data = await self.source.download(champion)
            # Loading and warming take a while: keep the event loop (and serving) running.
            model = await asyncio.to_thread(
                load_model, champion.model_name, champion.version, data, champion.sha256
            )
        except (ArtifactIntegrityError, ModelLoadError) as exc:
            self.metrics.model_loads.labels(outcome="refused").inc()
            log.error("predictor: refused %s, still serving %r: %s", label, current, exc)
            return ReloadOutcome.REFUSED
        self.holder.swap(model)
        self.metrics.model_loads.labels(outcome="loaded").inc()
        self.metrics.model_version.labels(model=model.name).set(model.version)
        log.info("predictor: now serving %r (was %r)", model, current)
        return ReloadOutcome.LOADED


async def keep_champion_loaded(
    reloader: ChampionReloader, *, poll_seconds: float, recheck_seconds: float
) -> None:
    """Until cancelled: load the champion, retrying every `poll_seconds` while none serves.

    Once a model serves, promotion events drive reloads; the slower recheck only covers an
    event missed while the models subscriber was (re)joining, and is a no-op otherwise.
    """
    while True:
        await reloader.reload_champion()
        serving = reloader.holder.current is not None
        await asyncio.sleep(recheck_seconds if serving else poll_seconds)
