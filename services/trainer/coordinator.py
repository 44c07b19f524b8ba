"""When to train, and one run end to end: snapshot -> train (in a thread) -> upload -> metrics."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from contracts import (
    DatasetSpec,
    DriftDetected,
    ModelCard,
    ModelRefused,
    ModelVersion,
    RecordIngested,
    TrainModel,
)
from services.trainer.config import MODEL_NAME, Settings
from services.trainer.run_types import MIN_SNAPSHOT
from services.trainer.scheduler import RunCoalescer, TrainRequest
from services.trainer.selection import SnapshotSelection, select
from services.trainer.snapshot import RecordBuffer, Snapshot, take_snapshot
from services.trainer.training import (
    Champion,
    ModelRefusedError,
    TrainedModel,
    TrainingOptions,
    train_model,
    validate_hyperparameters,
)
from services.trainer.unchanged import repeats

if TYPE_CHECKING:
    from services.trainer.metrics import TrainerMetrics

log = logging.getLogger(__name__)

TOO_FEW_RECORDS = "too_few_records"
# Results kept for GET /status (a few hundred bytes each).
RECENT_RESULTS = 20
INVALID_COMMAND = "invalid_command"
UNCHANGED = "unchanged"
RETIRED = "retired"  # its data set is retired: no automatic runs (a command still runs)
Trainer = Callable[[Snapshot, DatasetSpec, str, TrainingOptions, Champion | None], TrainedModel]
PublishRefusal = Callable[[ModelRefused], Awaitable[None]]


class Uploader(Protocol):
    async def upload(self, onnx: bytes, card: ModelCard) -> ModelVersion: ...


@runtime_checkable
class ChampionSource(Protocol):
    async def champion(self, model_name: str) -> Champion | None: ...


@runtime_checkable
class VersionSource(Protocol):
    async def latest_version(self, model_name: str) -> ModelVersion | None: ...


@dataclass(frozen=True)
class RunResult:
    """How a request ended, for GET /status and the logs."""

    reason: str
    outcome: Literal["uploaded", "failed", "skipped"]
    detail: str
    snapshot_size: int = 0
    version: int | None = None
    rmse: float | None = None
    metric: str | None = None  # what promotion compares by: rmse, log_loss, ...
    score: float | None = None  # the holdout score by `metric`
    at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())


class TrainingCoordinator:
    """Buffers labelled records and turns records, commands and drift into coalesced runs."""

    def __init__(
        self,
        settings: Settings,
        uploader: Uploader,
        metrics: TrainerMetrics,
        *,
        train: Trainer = train_model,
        champions: ChampionSource | None = None,
        publish_refusal: PublishRefusal | None = None,
        clock: Callable[[], datetime] | None = None,
        slots: asyncio.Semaphore | None = None,
    ) -> None:
        self.settings = settings
        self._clock = clock or _now  # what "now" a window snapshot counts back from
        # Shared by the coordinators of all data sets: how many runs may train at once.
        self._slots = slots or asyncio.Semaphore(1)
        self.buffer = RecordBuffer(settings.spec.name, settings.max_records)
        self.runs = RunCoalescer(self._run)
        # The latest results, newest last: a caller that waits for its own request's result
        # still finds it when another run ends right after it.
        self.recent_results: deque[RunResult] = deque(maxlen=RECENT_RESULTS)
        self._uploader = uploader
        self._metrics = metrics
        self._train = train
        self._champions = champions
        # The registry client also lists versions: a run that would repeat the latest is skipped.
        self._versions = uploader if isinstance(uploader, VersionSource) else None
        self._publish_refusal = publish_refusal
        self._new_since_run = 0
        self.retired = False  # its data set's: new records and drift then start no run
        metrics.watch(settings.model_name)

    @property
    def model_name(self) -> str:
        """The model this coordinator trains unless a command names another."""
        return self.settings.model_name

    def adopt(self, spec: DatasetSpec, *, compatible: bool, retired: bool = False) -> None:
        """Train on `spec` from now on; an incompatible spec (a new major) starts an empty
        buffer, as no state carries over between majors. A run in progress keeps its spec."""
        self.settings = self.settings.model_copy(update={"spec": spec})
        self.retired = retired
        if not compatible:
            self.buffer = RecordBuffer(spec.name, self.settings.max_records)
            self._new_since_run = 0
            self._metrics.records_buffered.labels(model=self.model_name).set(0)

    @property
    def new_since_run(self) -> int:
        return self._new_since_run

    def add_records(self, records: Iterable[RecordIngested]) -> int:
        """Buffer labelled records; request a run once `retrain_every` new ones arrived."""
        new = sum(self.buffer.add(record) for record in records)
        self._new_since_run += new
        self._metrics.records_buffered.labels(model=self.model_name).set(len(self.buffer))
        enough = len(self.buffer) >= self.settings.min_records
        if new and enough and self._new_since_run >= self.settings.retrain_every:
            if self.retired:
                self._skip("new records", "its data set is retired", len(self.buffer), RETIRED)
                return new
            request = TrainRequest(
                "new records",
                self.settings.model_name,
                self.settings.snapshot_selection,
                min_new_records=self.settings.retrain_every,
            )
            self.runs.request(request)
        return new

    def on_command(self, command: TrainModel) -> bool:
        """Run now (or right after the current run); False if too few records are buffered."""
        reason = f"command: {command.reason}"
        try:
            request = self._command_request(reason, command)
        except ValueError as exc:
            self._skip(reason, f"invalid command: {exc}", len(self.buffer), INVALID_COMMAND)
            return False
        # Asked for by a person: any snapshot a holdout can score will do, not the automatic
        # runs' min_records (a 150-row data set must be trainable on request).
        if not self._has_min_records(reason, MIN_SNAPSHOT):
            return False
        self.runs.request(replace(request, min_records=MIN_SNAPSHOT))
        return True

    def _command_request(self, reason: str, command: TrainModel) -> TrainRequest:
        """The run a command asks for: its overrides over the settings; ValueError if invalid."""
        settings = self.settings
        estimator = command.estimator or settings.estimator
        hyperparameters = command.hyperparameters
        if hyperparameters is None:  # the settings' ones belong to the settings' estimator
            hyperparameters = settings.hyperparameters if estimator == settings.estimator else {}
        validate_hyperparameters(estimator, hyperparameters, settings.spec.target.task)
        options = replace(
            settings.training_options,
            estimator=estimator,
            hyperparameters=dict(hyperparameters),
            seed=settings.seed if command.seed is None else command.seed,
        )
        selection = settings.snapshot_selection
        if command.snapshot_mode is not None:
            selection = SnapshotSelection(
                command.snapshot_mode, command.snapshot_records, command.snapshot_window_seconds
            )
        model_name = command.model_name or settings.model_name
        if not MODEL_NAME.match(model_name):
            raise ValueError(f"model_name {model_name!r} must match {MODEL_NAME.pattern}")
        return TrainRequest(reason, model_name, selection, options=options)

    def on_drift(self, event: DriftDetected) -> bool:
        """Retrain our model on the most recent records; False if not ours or too few."""
        if event.model_name != self.settings.model_name:
            log.info(
                "trainer: ignoring drift of %s (we train %s)",
                event.model_name,
                self.settings.model_name,
            )
            return False
        reason = f"drift of {event.model_name} v{event.model_version}"
        if self.retired:
            self._skip(reason, "its data set is retired", len(self.buffer), RETIRED)
            return False
        if not self._has_min_records(reason):
            return False
        recent = SnapshotSelection("recent", records=self.settings.drift_records)
        self.runs.request(TrainRequest(reason, self.settings.model_name, recent))
        return True

    def status(self) -> dict[str, Any]:
        pending = self.runs.pending
        return {
            "records_buffered": len(self.buffer),
            "new_since_run": self._new_since_run,
            "running": self.runs.running,
            "pending": pending.reason if pending else None,
            "last_result": asdict(self.last_result) if self.last_result else None,
            "recent_results": [asdict(result) for result in self.recent_results],
        }

    def _has_min_records(self, reason: str, needed: int | None = None) -> bool:
        needed = self.settings.min_records if needed is None else needed
        if len(self.buffer) >= needed:
            return True
        detail = f"{len(self.buffer)} records buffered, {needed} needed"
        self._skip(reason, detail, len(self.buffer))
        return False

    def _skip(
        self,
        reason: str,
        detail: str,
        size: int,
        why: str = TOO_FEW_RECORDS,
        model_name: str | None = None,
    ) -> None:
        log.warning("trainer: not training (%s): %s", reason, detail)
        model = model_name or self.model_name
        self._metrics.skipped.labels(model=model, reason=why).inc()
        self._ended(RunResult(reason, "skipped", detail, snapshot_size=size))

    async def _run(self, request: TrainRequest) -> None:
        """One run once a slot is free (it then snapshots the records buffered by then)."""
        async with self._slots:
            await self._run_now(request)

    async def _run_now(self, request: TrainRequest) -> None:
        """One run; every failure is logged and counted, never raised."""
        wanted = request.min_new_records
        if wanted is not None and self._new_since_run < wanted:
            log.debug("trainer: the previous run already trained on the new records")
            return
        records, parameters = select(self.buffer.recent(), request.selection, self._clock())
        self._new_since_run = 0
        fewest = request.min_records or self.settings.min_records
        if len(records) < fewest:
            needed = f"{len(records)} records ({request.selection.describe()}), {fewest} needed"
            self._skip(request.reason, needed, len(records), model_name=request.model_name)
            return
        options = request.options or self.settings.training_options
        spec = self.settings.spec  # the records' spec, even if a new one comes meanwhile
        model_label = {"model": request.model_name}
        try:
            snapshot = await asyncio.to_thread(take_snapshot, records, spec, parameters)
            if await self._repeats_latest(request, snapshot, options, spec):
                return
            log.info(
                "trainer: training %s on %d records (%s)",
                request.model_name,
                len(records),
                request.reason,
            )
            champion = await self._champion(request.model_name)
            model = await asyncio.to_thread(
                self._train, snapshot, spec, request.model_name, options, champion
            )
            self._metrics.training_seconds.labels(**model_label).observe(model.seconds)
            version = await self._uploader.upload(model.onnx, model.card)
        except Exception as exc:  # training or upload: the service keeps consuming
            log.error("trainer: run failed (%s): %s", request.reason, exc)
            self._metrics.runs.labels(outcome="failed", **model_label).inc()
            self._ended(RunResult(request.reason, "failed", str(exc), len(records)))
            if isinstance(exc, ModelRefusedError):
                await self._refused(request.model_name, str(exc))
            return
        self._uploaded(request, model, version, len(records))

    def _uploaded(
        self, request: TrainRequest, model: TrainedModel, version: ModelVersion, size: int
    ) -> None:
        metrics = model.card.metrics
        rmse, score = metrics.rmse, getattr(metrics, metrics.metric)
        model_name = request.model_name
        self._metrics.runs.labels(model=model_name, outcome="uploaded").inc()
        if rmse is not None:
            self._metrics.last_rmse.labels(model=model_name).set(rmse)
        if score is not None:
            self._metrics.last_score.labels(model=model_name, metric=metrics.metric).set(score)
        log.info(
            "trainer: uploaded %s v%d (%s %s, %d records, %.2fs)",
            version.model_name,
            version.version,
            metrics.metric.replace("_", " "),
            "none" if score is None else f"{score:.6g}",
            size,
            model.seconds,
        )
        self._ended(
            RunResult(
                request.reason,
                "uploaded",
                f"{version.model_name} v{version.version}",
                snapshot_size=size,
                version=version.version,
                rmse=rmse,
                metric=metrics.metric,
                score=score,
            )
        )

    def _ended(self, result: RunResult) -> None:
        self.recent_results.append(result)

    @property
    def last_result(self) -> RunResult | None:
        return self.recent_results[-1] if self.recent_results else None

    async def _repeats_latest(
        self,
        request: TrainRequest,
        snapshot: Snapshot,
        options: TrainingOptions,
        spec: DatasetSpec,
    ) -> bool:
        """Skip (and say so) a run whose model the registry's latest version already is."""
        if self._versions is None:
            return False
        try:
            latest = await self._versions.latest_version(request.model_name)
        except Exception as exc:  # cannot tell: train, as without the check
            log.warning("trainer: cannot list versions of %s: %s", request.model_name, exc)
            return False
        task = spec.target.task
        if latest is None or not repeats(latest.card, snapshot.fingerprint, options, task):
            return False
        detail = (
            f"{latest.model_name} v{latest.version} has the same snapshot"
            f" ({snapshot.fingerprint[:12]}), estimator, hyperparameters and seed"
        )
        self._skip(request.reason, detail, snapshot.size, UNCHANGED, request.model_name)
        return True

    async def _champion(self, model_name: str) -> Champion | None:
        """The registry's champion, to be scored on our holdout; None if none or unreachable
        (the registry then compares by each version's own holdout)."""
        if self._champions is None:
            return None
        try:
            return await self._champions.champion(model_name)
        except Exception as exc:
            log.warning("trainer: cannot fetch the champion of %s: %s", model_name, exc)
            return None

    async def _refused(self, model_name: str, reason: str) -> None:
        if self._publish_refusal is None:
            return
        event = ModelRefused(model_name=model_name, refused_by="trainer", reason=reason)
        try:
            await self._publish_refusal(event)
        except Exception as exc:  # the refusal is logged and counted already
            log.error("trainer: cannot publish ModelRefused: %s", exc)


def _now() -> datetime:
    return datetime.now(UTC)
