"""Trainer settings, read from MLBUS_TRAINER_* environment variables."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from contracts import HOUSE_PRICES
from services.common.settings import (
    MODEL_NAME,
    HttpBaseUrl,
    Port,
    ServiceSettings,
    SpecSetting,
    model_name_for,
    require_real_secret,
)
from services.trainer.selection import SnapshotMode, SnapshotSelection
from services.trainer.training import (
    EstimatorName,
    HyperValue,
    TrainingOptions,
    validate_hyperparameters,
)

__all__ = ["MODEL_NAME", "Settings"]


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MLBUS_TRAINER_")
    service: ClassVar[str] = "trainer"

    port: Port = 8002
    spec: SpecSetting = HOUSE_PRICES
    registry_url: HttpBaseUrl = "http://127.0.0.1:8003"
    registry_token: SecretStr
    registry_timeout_seconds: float = Field(default=60.0, gt=0)
    model_name: str = Field(default="", description="empty: the dataset spec's name")
    estimator: EstimatorName = "hist_gradient_boosting"
    hyperparameters: dict[str, HyperValue] = Field(
        default_factory=dict,
        description='JSON over the estimator\'s defaults, e.g. {"max_iter": 100}',
    )
    seed: int = 0
    snapshot_mode: SnapshotMode = Field(default="all", description="all | recent | window")
    snapshot_records: int | None = Field(default=None, ge=1, description="for 'recent'")
    snapshot_window_seconds: float | None = Field(default=None, gt=0, description="for 'window'")
    training_threads: int = Field(default=1, ge=1, description="threads of one fit")
    parallel_runs: int = Field(
        default=1, ge=1, description="runs that may train at once, across all data sets"
    )
    retrain_every: int = Field(default=500, ge=1, description="new labelled records per run")
    min_records: int = Field(
        default=200,
        ge=10,
        description="no automatic run with fewer records (a TrainModel command needs 10)",
    )
    max_records: int = Field(default=100_000, ge=1, description="records the buffer keeps")
    drift_records: int = Field(default=5_000, ge=1, description="recent records a drift run uses")
    parity_tolerance: float = Field(
        default=0.01, description="max |onnx - sklearn| / std(holdout target)"
    )
    probability_parity_tolerance: float = Field(
        default=1e-3, gt=0, description="classifiers: max |onnx - sklearn| of a probability"
    )
    class_weight: Literal["balanced", "none"] = Field(
        default="balanced", description="classifiers: weigh classes by inverse frequency, or not"
    )
    holdout_fraction: float = Field(
        default=0.2, gt=0, lt=1, description="share of record ids held out for good, by hash"
    )
    batch_max_records: int = Field(default=500, ge=1, description="records consumed per batch")

    @field_validator("registry_token")
    @classmethod
    def _real_token(cls, value: SecretStr) -> SecretStr:
        return require_real_secret(value, "MLBUS_TRAINER_REGISTRY_TOKEN")

    @model_validator(mode="after")
    def _resolve_model_name(self) -> Settings:
        self.model_name = model_name_for(self.spec, self.model_name)
        return self

    @model_validator(mode="after")
    def _drift_runs_can_run(self) -> Settings:
        if self.drift_records < self.min_records:
            raise ValueError(
                f"drift_records ({self.drift_records}) must be at least "
                f"min_records ({self.min_records})"
            )
        return self

    @model_validator(mode="after")
    def _valid_training_choices(self) -> Settings:
        _ = self.snapshot_selection  # raises ValueError on an incomplete selection
        validate_hyperparameters(self.estimator, self.hyperparameters, self.spec.target.task)
        return self

    @property
    def snapshot_selection(self) -> SnapshotSelection:
        return SnapshotSelection(
            self.snapshot_mode, self.snapshot_records, self.snapshot_window_seconds
        )

    @property
    def training_options(self) -> TrainingOptions:
        return TrainingOptions(
            estimator=self.estimator,
            seed=self.seed,
            parity_tolerance=self.parity_tolerance,
            holdout_fraction=self.holdout_fraction,
            threads=self.training_threads,
            hyperparameters=dict(self.hyperparameters),
            class_weight=None if self.class_weight == "none" else self.class_weight,
            probability_tolerance=self.probability_parity_tolerance,
        )
