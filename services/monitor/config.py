"""Monitor settings, from MLBUS_MONITOR_* environment variables."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from contracts import HOUSE_PRICES
from services.common.settings import HttpBaseUrl, Port, ServiceSettings, SpecSetting
from services.monitor.windows import WindowPolicy


class Settings(ServiceSettings):
    """The group id (ServiceSettings.group_id) also keys the checkpoints on the state topic."""

    model_config = SettingsConfigDict(env_prefix="MLBUS_MONITOR_")
    service: ClassVar[str] = "monitor"

    port: Port = 8005
    # The start-up data set (MLBUS_MONITOR_SPEC, a spec file): its late labels join the
    # predictions of its model whatever that model is called; others are learned at run time.
    spec: SpecSetting = HOUSE_PRICES
    registry_url: HttpBaseUrl = "http://127.0.0.1:8003"
    registry_timeout_seconds: float = Field(default=2.0, gt=0)
    reference_retry_seconds: float = Field(
        default=5.0, gt=0, description="wait before asking the registry again after a failure"
    )
    window_size: int = Field(default=500, ge=1, description="predictions per tumbling window")
    window_seconds: float | None = Field(
        default=None, gt=0, description="close a window this long after it opened (None: off)"
    )
    min_window: int = Field(
        default=100, ge=1, description="partial first window shown on the gauges from this size"
    )
    psi_threshold: float = Field(default=0.2, gt=0, description="PSI from which a feature drifts")
    alpha: float = Field(
        default=0.01, gt=0, lt=1, description="BH-adjusted p-value under which a change counts"
    )
    effect: Literal["psi", "distance"] = Field(
        default="distance",
        description="effect size a significant change must also reach: psi (psi_threshold), "
        "or distance (wasserstein_threshold or total_variation_threshold)",
    )
    wasserstein_threshold: float = Field(
        default=0.05, gt=0, description="effect=distance: shift of a number, in reference SDs"
    )
    total_variation_threshold: float = Field(
        default=0.05, gt=0, le=1, description="effect=distance: share of rows that changed bin"
    )
    missing_threshold: float = Field(
        default=0.05, gt=0, le=1, description="absolute change of a feature's missing rate"
    )
    sequential: bool = Field(
        default=False,
        description="also judge all complete windows of a version together (catches small "
        "persistent shifts; one more set of counts per version)",
    )
    sequential_alpha: float = Field(
        default=0.001, gt=0, lt=1, description="alpha of the sequential totals' tests"
    )
    drift_share: float = Field(
        default=0.05, ge=0, le=1, description="share of features drifting for the data set to"
    )
    drift_windows: int = Field(default=2, ge=1, description="consecutive drifting windows")
    cooldown_seconds: float = Field(
        default=300.0, ge=0, description="after a DriftDetected, none for the same model"
    )
    error_window: int = Field(default=200, ge=1, description="joined labels per error window")
    # 2000: accuracy's standard error stays under 1.2 points (the 0.02 tolerance), an
    # imbalanced binary stream with 1% positives still holds ~20 for ROC AUC, and the ten
    # calibration bins average 200 rows; the ring costs 2000 x (classes + 2) numbers.
    classification_window: int = Field(
        default=2000,
        ge=1,
        description="a classifier's live scores and label drift: the latest joined labels",
    )
    join_capacity: int = Field(default=50_000, ge=1, description="records waiting for a join")
    join_horizon_seconds: float = Field(
        default=3600.0, gt=0, description="how long a prediction waits for its label"
    )
    max_pending_windows: int = Field(
        default=4, ge=1, description="windows of predictions kept while a reference is missing"
    )
    max_versions: int = Field(default=4, ge=1, description="versions per model with windows")
    batch_max_records: int = Field(default=500, ge=1)
    dedupe_capacity: int = Field(default=10_000, ge=0, description="recent event ids remembered")
    checkpoint_seconds: float = Field(
        default=1.0,
        gt=0,
        description="how often the counts are checkpointed (then the offsets committed), so a "
        "restarted monitor resumes with exactly the counts it had",
    )
    checkpoint_ids: int = Field(
        default=2_000,
        ge=0,
        description="latest event ids per input topic kept in a checkpoint: redeliveries "
        "that straddle a restart are still dropped (16 bytes each)",
    )

    @model_validator(mode="after")
    def _min_window_fits(self) -> Settings:
        if self.min_window > self.window_size:
            raise ValueError(
                f"min_window ({self.min_window}) must not exceed window_size ({self.window_size})"
            )
        return self

    @property
    def window_policy(self) -> WindowPolicy:
        return WindowPolicy(
            window_size=self.window_size,
            min_window=self.min_window,
            window_seconds=self.window_seconds,
            psi_threshold=self.psi_threshold,
            alpha=self.alpha,
            effect=self.effect,
            wasserstein_threshold=self.wasserstein_threshold,
            total_variation_threshold=self.total_variation_threshold,
            missing_threshold=self.missing_threshold,
            sequential=self.sequential,
            sequential_alpha=self.sequential_alpha,
            drift_share=self.drift_share,
            drift_windows=self.drift_windows,
            cooldown_seconds=self.cooldown_seconds,
            max_pending_windows=self.max_pending_windows,
            max_versions=self.max_versions,
        )
