"""Which models serve: one swappable reference per alias, and their reload from the registry."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from contracts import (
    DatasetSpec,
    ModelPromoted,
    ModelRefused,
    ModelRegistered,
    ModelRolledBack,
    ModelVersion,
)
from services.predictor.model import LoadedModel, ModelLoadError, load_model
from services.predictor.registry_client import (
    CHALLENGER,
    CHAMPION,
    ArtifactIntegrityError,
    ArtifactTransferError,
    ModelSource,
    RegistryError,
)

if TYPE_CHECKING:
    from contracts.events import ModelEvent
    from services.predictor.metrics import PredictorMetrics

log = logging.getLogger(__name__)

RefusalSink = Callable[[ModelRefused], Awaitable[None]]


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

    def clear(self) -> LoadedModel | None:
        """Serve nothing (a challenger alias that was removed); returns the old model."""
        old, self._current = self._current, None
        self._loaded.clear()
        return old

    async def wait_ready(self) -> LoadedModel:
        """The current model, waiting for the first one if none is loaded yet."""
        while self._current is None:
            await self._loaded.wait()
        return self._current


class ReloadOutcome(enum.Enum):
    LOADED = "loaded"  # a new version now serves
    UNCHANGED = "unchanged"  # the alias's version is already serving
    NO_CHAMPION = "no_champion"  # the alias is unset for the model
    UNAVAILABLE = "unavailable"  # the registry could not be asked; try again later
    REFUSED = "refused"  # the version failed verification or loading; the old model serves
    INTERRUPTED = "interrupted"  # its download broke off; the old model serves, retry soon


class AliasReloader:
    """Brings the version holding `alias` into the holder: load and warm beside the old, swap.

    A refused version is remembered (and reported once) so rechecks do not download it again.
    An interrupted download is not held against the version: it is counted, reported once,
    and `retry_pending` asks the reload loop to try again soon.
    """

    def __init__(
        self,
        holder: ModelHolder,
        source: ModelSource,
        model_name: str,
        metrics: PredictorMetrics,
        *,
        alias: str = CHAMPION,
        spec: DatasetSpec | None = None,
        on_refused: RefusalSink | None = None,
    ) -> None:
        self.holder = holder
        self.source = source
        self.model_name = model_name
        self.metrics = metrics
        self.alias = alias
        self.spec = spec
        self.on_refused = on_refused
        self._refused: set[tuple[int, str]] = set()
        self._interrupted: set[tuple[int, str]] = set()  # already announced
        self.retry_pending = False  # the last reload could not finish; try again soon
        self.retry_wanted = asyncio.Event()  # set with retry_pending: wakes the reload loop
        self._lock = asyncio.Lock()  # one reload at a time; the next one sees the newest alias
        self.waiting_since: datetime | None = datetime.now(UTC)  # None while a model serves
        self.last_problem = "the registry was not asked yet"  # why nothing serves, if so
        self._stale = False  # the spec changed since the model serving was loaded

    def respec(self, spec: DatasetSpec) -> None:
        """Check and load models against `spec` from now on; the reload loop reloads the
        version serving soon, so a new threshold (say) applies to it too."""
        self.spec = spec
        self._refused.clear()  # refused under the old spec: may pass under the new one
        self._stale = True
        self.retry_wanted.set()

    async def reload(self) -> ReloadOutcome:
        async with self._lock:
            try:
                outcome = await self._reload()
            except RegistryError as exc:
                log.warning(
                    "predictor: cannot fetch %s of %s: %s", self.alias, self.model_name, exc
                )
                self.last_problem = f"the registry cannot be asked: {exc}"
                outcome = ReloadOutcome.UNAVAILABLE
            self._note(outcome)
            self.retry_pending = outcome in (ReloadOutcome.UNAVAILABLE, ReloadOutcome.INTERRUPTED)
            if self.retry_pending:
                self.retry_wanted.set()
            return outcome

    def waiting(self) -> dict[str, object]:
        """For /readyz: the model and alias this reloader serves, and, while none serves, since
        when it waits and why."""
        model = self.holder.current
        status: dict[str, object] = {"model_name": self.model_name, "alias": self.alias}
        if model is not None:
            return status | {"version": model.version}
        since = self.waiting_since.isoformat() if self.waiting_since else None
        return status | {"version": None, "waiting_since": since, "waiting_for": self.last_problem}

    def _note(self, outcome: ReloadOutcome) -> None:
        if self.holder.current is not None:
            self.waiting_since = None
            return
        if self.waiting_since is None:
            self.waiting_since = datetime.now(UTC)
        if outcome is ReloadOutcome.NO_CHAMPION:
            self.last_problem = (
                f"no {self.alias} of model {self.model_name!r} in the registry yet"
                " (trained models of this data set are registered under this name)"
            )

    async def _reload(self) -> ReloadOutcome:
        wanted = await self.source.alias(self.model_name, self.alias)
        if wanted is None:
            return self._alias_unset()
        current = self.holder.current
        key = (wanted.version, wanted.sha256.lower())
        if not self._stale and current is not None and (current.version, current.sha256) == key:
            return ReloadOutcome.UNCHANGED
        if key in self._refused:
            return ReloadOutcome.REFUSED  # last_problem still says why
        started = time.perf_counter()
        try:
            data = await self.source.download(wanted)
            # Loading and warming take a while: keep the event loop (and serving) running.
            model = await asyncio.to_thread(
                load_model,
                wanted.model_name,
                wanted.version,
                data,
                wanted.sha256,
                self.spec,
                wanted.card,
            )
        except ArtifactTransferError as exc:
            await self._interrupted_download(wanted, key, str(exc))
            return ReloadOutcome.INTERRUPTED
        except (ArtifactIntegrityError, ModelLoadError) as exc:
            await self._refuse(wanted, key, str(exc))
            return ReloadOutcome.REFUSED
        self.metrics.model_load_seconds.labels(model=self.model_name, alias=self.alias).observe(
            time.perf_counter() - started
        )
        self.holder.swap(model)
        self._stale = False
        self.metrics.model_loads.labels(model=self.model_name, outcome="loaded").inc()
        self.metrics.swaps.labels(model=self.model_name, alias=self.alias).inc()
        self.metrics.version_gauge(self.alias).labels(model=model.name).set(model.version)
        log.info("predictor: %s now %r (was %r)", self.alias, model, current)
        return ReloadOutcome.LOADED

    def _alias_unset(self) -> ReloadOutcome:
        if self.alias != CHAMPION and self.holder.clear() is not None:
            # A challenger that was promoted or dropped: stop shadow scoring it.
            self.metrics.version_gauge(self.alias).labels(model=self.model_name).set(0)
            log.info("predictor: %s of %s unset; no longer served", self.alias, self.model_name)
        return ReloadOutcome.NO_CHAMPION

    async def _refuse(self, version: ModelVersion, key: tuple[int, str], reason: str) -> None:
        self._refused.add(key)
        self.last_problem = f"{self.alias} v{version.version} was refused: {reason}"
        self.metrics.model_loads.labels(model=self.model_name, outcome="refused").inc()
        log.error(
            "predictor: refused %s, still serving %r: %s", self.alias, self.holder.current, reason
        )
        await self._announce(version, reason)

    async def _interrupted_download(
        self, version: ModelVersion, key: tuple[int, str], reason: str
    ) -> None:
        self.metrics.model_loads.labels(model=self.model_name, outcome="interrupted").inc()
        self.last_problem = f"the download of {self.alias} v{version.version} broke off: {reason}"
        log.warning(
            "predictor: download of %s interrupted, still serving %r, will retry: %s",
            self.alias,
            self.holder.current,
            reason,
        )
        if key not in self._interrupted:  # one event per version, not one per retry
            self._interrupted.add(key)
            await self._announce(version, f"{reason} (will retry)")

    async def _announce(self, version: ModelVersion, reason: str) -> None:
        if self.on_refused is None:
            return
        event = ModelRefused(
            model_name=version.model_name,
            version=version.version,
            sha256=version.sha256,
            refused_by="predictor",
            reason=f"{self.alias}: {reason}",
        )
        try:
            await self.on_refused(event)
        except Exception:  # the refusal stands even if it cannot be announced
            log.exception("predictor: could not publish %s", event.kind)


async def keep_models_loaded(
    reloaders: list[AliasReloader], *, poll_seconds: float, recheck_seconds: float
) -> None:
    """Until cancelled: reload every alias, retrying every `poll_seconds` while no champion serves
    or a reload could not finish (registry unreachable, download interrupted).

    The first reloader is the champion's. Once it serves, model events drive reloads; the slower
    recheck only covers an event missed while the models subscriber was (re)joining.
    """
    while True:
        for reloader in reloaders:
            reloader.retry_wanted.clear()
            await reloader.reload()
        serving = reloaders[0].holder.current is not None
        settled = serving and not any(reloader.retry_pending for reloader in reloaders)
        # An event-driven reload that fails meanwhile cuts the long wait short.
        if settled and not await _until_retry_wanted(reloaders, recheck_seconds):
            continue
        await asyncio.sleep(poll_seconds)


async def _until_retry_wanted(reloaders: list[AliasReloader], timeout: float) -> bool:
    """Whether a reloader wanted a retry within `timeout` seconds."""
    waits = [asyncio.create_task(reloader.retry_wanted.wait()) for reloader in reloaders]
    try:
        done, _ = await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
    return bool(done)


@dataclass(frozen=True)
class Serving:
    """The champion and the challenger, each in its holder with its reloader."""

    champion: AliasReloader
    challenger: AliasReloader

    @classmethod
    def of(
        cls,
        source: ModelSource,
        model_name: str,
        metrics: PredictorMetrics,
        *,
        spec: DatasetSpec,
        on_refused: RefusalSink,
    ) -> Serving:
        def reloader(alias: str) -> AliasReloader:
            return AliasReloader(
                ModelHolder(),
                source,
                model_name,
                metrics,
                alias=alias,
                spec=spec,
                on_refused=on_refused,
            )

        metrics.export_zeros(model_name)
        return cls(champion=reloader(CHAMPION), challenger=reloader(CHALLENGER))

    @property
    def model_name(self) -> str:
        return self.champion.model_name

    def respec(self, spec: DatasetSpec) -> None:
        """A new version of the data set's spec: both aliases are checked against it."""
        self.champion.respec(spec)
        self.challenger.respec(spec)

    async def load_champion(self, timeout_seconds: float) -> None:
        """Serve the champion from the first batch on, if there is one: one bounded try, since
        `keep_loaded` keeps trying (and batches wait for a model meanwhile)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.champion.reload(), timeout_seconds)

    async def keep_loaded(self, *, poll_seconds: float, recheck_seconds: float) -> None:
        """Until cancelled: see `keep_models_loaded`."""
        await keep_models_loaded(
            [self.champion, self.challenger],
            poll_seconds=poll_seconds,
            recheck_seconds=recheck_seconds,
        )

    async def follow(self, event: ModelEvent) -> None:
        """Reload the aliases a model event concerns; events of other models are ignored."""
        if event.model_name != self.champion.model_name:
            return
        if isinstance(event, ModelPromoted | ModelRolledBack):
            log.info("predictor: %s for %s v%d", event.kind, event.model_name, event.version)
            if event.alias == CHAMPION:
                await self.champion.reload()
            # A promotion moves the challenger too (to champion, or a new one).
            await self.challenger.reload()
        elif isinstance(event, ModelRegistered):
            await self.challenger.reload()
