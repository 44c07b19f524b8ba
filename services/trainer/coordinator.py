"""When to train, and one run end to end: snapshot -> train (in a thread) -> upload -> metrics."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from contracts import (
    DatasetSpec,
    DriftDetected,
    ModelCard,
    ModelVersion,
    RecordIngested,
    TrainModel,
)
from services.trainer.config import Settings
from services.trainer.metrics import TrainerMetrics
from services.trainer.scheduler import RunCoalescer, TrainRequest
from services.trainer.snapshot import RecordBuffer, Snapshot, take_snapshot
from services.trainer.training import TrainedModel, TrainingOptions, train_model

log = logging.getLogger(__name__)

TOO_FEW_RECORDS = "too_few_records"
Trainer = Callable[[Snapshot, DatasetSpec, str, TrainingOptions], TrainedModel]


class Uploader(Protocol):
    async def upload(self, onnx: bytes, card: ModelCard) -> ModelVersion: ...


@dataclass(frozen=True)
class RunResult:
    """How a request ended, for GET /status and the logs."""

    reason: str
    outcome: Literal["uploaded", "failed", "skipped"]
    detail: str
    snapshot_size: int = 0
    version: int | None = None
    rmse: float | None = None
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
    ) -> None:
        self.settings = settings
        self.buffer = RecordBuffer(settings.spec.name, settings.max_records)
        self.runs = RunCoalescer(self._run)
        self.last_result: RunResult | None = None
        self._uploader = uploader
        self._metrics = metrics
        self._train = train
        self._new_since_run = 0

    @property
    def new_since_run(self) -> int:
        return self._new_since_run

    def add_records(self, records: Iterable[RecordIngested]) -> int:
        """Buffer labelled records; request a run once `retrain_every` new ones arrived."""
        new = sum(self.buffer.add(record) for record in records)
        self._new_since_run += new
        self._metrics.records_buffered.set(len(self.buffer))
        enough = len(self.buffer) >= self.settings.min_records
        if new and enough and self._new_since_run >= self.settings.retrain_every:
            request = TrainRequest(
                "new records", self.settings.model_name, min_new_records=self.settings.retrain_every
            )
            self.runs.request(request)
        return new

    def on_command(self, command: TrainModel) -> bool:
        """Run now (or right after the current run); False if too few records are buffered."""
        reason = f"command: {command.reason}"
        if not self._has_min_records(reason):
            return False
        model_name = command.model_name or self.settings.model_name
        self.runs.request(TrainRequest(reason, model_name))
        return True

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
        if not self._has_min_records(reason):
            return False
        recent = self.settings.drift_records
        self.runs.request(TrainRequest(reason, self.settings.model_name, recent=recent))
        return True

    def status(self) -> dict[str, Any]:
        pending = self.runs.pending
        return {
            "records_buffered": len(self.buffer),
            "new_since_run": self._new_since_run,
            "running": self.runs.running,
            "pending": pending.reason if pending else None,
            "last_result": asdict(self.last_result) if self.last_result else None,
        }

    def _has_min_records(self, reason: str) -> bool:
        if len(self.buffer) >= self.settings.min_records:
            return True
        detail = f"{len(self.buffer)} records buffered, {self.settings.min_records} needed"
        self._skip(reason, detail, len(self.buffer))
        return False

    def _skip(self, reason: str, detail: str, size: int) -> None:
        log.warning("trainer: not training (%s): %s", reason, detail)
        self._metrics.skipped.labels(reason=TOO_FEW_RECORDS).inc()
        self.last_result = RunResult(reason, "skipped", detail, snapshot_size=size)

    async def _run(self, request: TrainRequest) -> None:
        """One run; every failure is logged and counted, never raised."""
        wanted = request.min_new_records
        if wanted is not None and self._new_since_run < wanted:
            log.debug("trainer: the previous run already trained on the new records")
            return
        records = self.buffer.recent(request.recent)
        self._new_since_run = 0
        if len(records) < self.settings.min_records:
            needed = f"{len(records)} records, {self.settings.min_records} needed"
            self._skip(request.reason, needed, len(records))
            return
        log.info(
            "trainer: training %s on %d records (%s)",
            request.model_name,
            len(records),
            request.reason,
        )
        try:
            model = await asyncio.to_thread(self._train_records, records, request.model_name)
            self._metrics.training_seconds.observe(model.seconds)
            version = await self._uploader.upload(model.onnx, model.card)
        except Exception as exc:  # training or upload: the service keeps consuming
            log.error("trainer: run failed (%s): %s", request.reason, exc)
            self._metrics.runs.labels(outcome="failed").inc()
            self.last_result = RunResult(request.reason, "failed", str(exc), len(records))
            return
        rmse = model.card.metrics.rmse
        self._metrics.runs.labels(outcome="uploaded").inc()
        self._metrics.last_rmse.set(rmse)
        log.info(
            "trainer: uploaded %s v%d (rmse %.6g, %d records, %.2fs)",
            version.model_name,
            version.version,
            rmse,
            len(records),
            model.seconds,
        )
        self.last_result = RunResult(
            request.reason,
            "uploaded",
            f"{version.model_name} v{version.version}",
            snapshot_size=len(records),
            version=version.version,
            rmse=rmse,
        )

    def _train_records(self, records: list[RecordIngested], model_name: str) -> TrainedModel:
        snapshot = take_snapshot(records, self.settings.spec)
        options = self.settings.training_options
        return self._train(snapshot, self.settings.spec, model_name, options)
