"""One training run as plain functions: pipeline, holdout metrics, ONNX, parity, model card."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import onnxruntime as ort
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from contracts import (
    CategoricalFeature,
    ChampionComparison,
    DatasetSpec,
    JsonScalar,
    ModelCard,
    ModelMetrics,
)
from services.trainer.holdout import holdout_rows, holdout_share
from services.trainer.onnx_export import (
    FloatArray,
    Parity,
    ParityError,
    check_parity,
    onnx_feeds,
    onnx_inputs,
    onnx_predict,
    target_spread,
    to_onnx,
)
from services.trainer.reference import reference_statistics

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import pandas as pd

    from services.trainer.snapshot import Snapshot

EstimatorName = Literal["linear", "random_forest", "hist_gradient_boosting"]
ESTIMATORS: tuple[EstimatorName, ...] = ("linear", "random_forest", "hist_gradient_boosting")
MIN_SNAPSHOT = 10  # below this a 20 % holdout says nothing
MIN_HOLDOUT = 2  # rows: r2 needs two


# Set by the trainer itself: the seed makes runs reproducible, the thread count is a setting.
RESERVED_HYPERPARAMETERS = frozenset({"random_state", "n_jobs"})

HyperValue = JsonScalar

log = logging.getLogger(__name__)


class TrainingError(RuntimeError):
    """A run that cannot produce a model (too little data, or a refused model)."""


class ModelRefusedError(TrainingError):
    """The trained model failed the ONNX parity check: it must not be uploaded."""


@dataclass(frozen=True)
class TrainingOptions:
    estimator: EstimatorName = "hist_gradient_boosting"
    seed: int = 0
    holdout_fraction: float = 0.2  # of record ids, held out for good (see holdout.py)
    parity_tolerance: float = 0.01  # largest |onnx - sklearn| / std(holdout target)
    threads: int = 1  # OpenMP/joblib threads of one fit; more only help on an idle machine
    hyperparameters: Mapping[str, HyperValue] = field(default_factory=dict)


@dataclass(frozen=True)
class Champion:
    """The registry's champion at training time, to be scored on this run's holdout.

    `holdout_fraction` is the one it was trained with (None: not recorded, an older card).
    """

    version: int
    onnx: bytes
    holdout_fraction: float | None = None


@dataclass(frozen=True)
class TrainedModel:
    """What a run uploads: the ONNX bytes and their card; `seconds` = fit + convert + check."""

    onnx: bytes
    card: ModelCard
    seconds: float


def make_estimator(
    name: EstimatorName,
    seed: int,
    threads: int = 1,
    hyperparameters: Mapping[str, HyperValue] | None = None,
) -> Any:
    """The regressor for `name` with `hyperparameters` over our defaults; ValueError for a
    parameter the estimator does not have or that the trainer sets itself."""
    estimator = _default_estimator(name, seed, threads)
    if hyperparameters:
        reserved = RESERVED_HYPERPARAMETERS & set(hyperparameters)
        unknown = set(hyperparameters) - set(estimator.get_params(deep=False))
        if reserved:
            raise ValueError(f"hyperparameters {sorted(reserved)} are set by the trainer")
        if unknown:
            raise ValueError(f"{name} has no hyperparameters {sorted(unknown)}")
        estimator.set_params(**hyperparameters)
    return estimator


def validate_hyperparameters(
    name: EstimatorName, hyperparameters: Mapping[str, HyperValue]
) -> None:
    """ValueError if `hyperparameters` are not valid for `name` (checked before a run)."""
    estimator = make_estimator(name, 0, 1, hyperparameters)
    # sklearn checks types and ranges at fit time; do it now, so a bad command fails fast.
    estimator._validate_params()


def effective_hyperparameters(estimator: Any) -> dict[str, HyperValue]:
    """The estimator's own parameters that are plain JSON values, for the model card."""
    params = estimator.get_params(deep=False).items()
    return {k: v for k, v in sorted(params) if v is None or isinstance(v, bool | int | float | str)}


def _default_estimator(name: EstimatorName, seed: int, threads: int) -> Any:
    """Our defaults; sizes keep 10k records to about a second of training."""
    match name:
        case "linear":
            return Ridge(alpha=1.0)
        case "random_forest":
            # Depth and leaf size bound the ONNX file (about 2.5 MB for 10k records).
            return RandomForestRegressor(
                n_estimators=50, max_depth=12, min_samples_leaf=5, random_state=seed, n_jobs=threads
            )
        case "hist_gradient_boosting":
            return HistGradientBoostingRegressor(max_iter=200, random_state=seed)
    raise ValueError(f"unknown estimator {name!r}; choose one of {ESTIMATORS}")


def build_pipeline(
    spec: DatasetSpec,
    estimator: EstimatorName,
    seed: int = 0,
    threads: int = 1,
    hyperparameters: Mapping[str, HyperValue] | None = None,
) -> Pipeline:
    """ColumnTransformer (numbers imputed, scaled for the linear model; categories one-hot)."""
    categorical = [f.name for f in spec.features if isinstance(f, CategoricalFeature)]
    numeric = [f.name for f in spec.features if not isinstance(f, CategoricalFeature)]
    # Trees need no scaling, and a float64 scaler in front of float32 ONNX thresholds
    # makes onnxruntime and sklearn disagree near split points.
    number_steps: list[tuple[str, Any]] = [
        ("impute", SimpleImputer(strategy="median", keep_empty_features=True))
    ]
    if estimator == "linear":
        number_steps.append(("scale", StandardScaler()))
    transformers: list[tuple[str, Any, list[str]]] = []
    if numeric:
        transformers.append(("numbers", Pipeline(number_steps), numeric))
    if categorical:
        transformers.append(
            ("categories", OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical)
        )
    return Pipeline(
        [
            ("features", ColumnTransformer(transformers)),
            ("regressor", make_estimator(estimator, seed, threads, hyperparameters)),
        ]
    )


@dataclass(frozen=True)
class Split:
    """A snapshot's rows: those a model may train on, and those held out for good."""

    train: pd.DataFrame
    holdout: pd.DataFrame
    holdout_ids: tuple[str, ...]
    holdout_shares: FloatArray  # each holdout row's share (holdout.holdout_share)


def split_holdout(frame: pd.DataFrame, record_ids: Sequence[str], fraction: float) -> Split:
    """Train and holdout rows of a snapshot frame (rows in `record_ids` order), by record id:
    the same record is on the same side in every run."""
    if len(record_ids) != len(frame):
        raise ValueError(f"{len(record_ids)} record ids for {len(frame)} rows")
    shares = np.array([holdout_share(record_id) for record_id in record_ids], dtype=np.float64)
    held = shares < fraction
    return Split(
        train=frame[~held],
        holdout=frame[held],
        holdout_ids=tuple(r for r, h in zip(record_ids, held, strict=True) if h),
        holdout_shares=shares[held],
    )


def regression_metrics(truth: FloatArray, predicted: FloatArray) -> dict[str, float]:
    return {
        "rmse": float(np.sqrt(mean_squared_error(truth, predicted))),
        "mae": float(mean_absolute_error(truth, predicted)),
        "r2": float(r2_score(truth, predicted)),
    }


def train_model(
    snapshot: Snapshot,
    spec: DatasetSpec,
    model_name: str,
    options: TrainingOptions,
    champion: Champion | None = None,
) -> TrainedModel:
    """Fit, score on the holdout (and the champion on the same holdout), convert to ONNX, check
    parity; TrainingError if it cannot, ModelRefusedError if parity fails."""
    if snapshot.size < MIN_SNAPSHOT:
        raise TrainingError(f"{snapshot.size} records are too few to train (need {MIN_SNAPSHOT})")
    # OpenMP threads that spin-wait for each other slow HistGradientBoosting tenfold on a
    # busy machine (measured: 0.5 s with one thread, 6 s with two on two loaded cores).
    with threadpool_limits(limits=options.threads):
        return _train(snapshot, spec, model_name, options, champion)


def _train(
    snapshot: Snapshot,
    spec: DatasetSpec,
    model_name: str,
    options: TrainingOptions,
    champion: Champion | None,
) -> TrainedModel:
    started = time.perf_counter()
    split = _split(snapshot, options.holdout_fraction)
    train, holdout = split.train, split.holdout
    features, target = spec.feature_names, spec.target.name
    pipeline = build_pipeline(
        spec, options.estimator, options.seed, options.threads, options.hyperparameters
    )
    pipeline.fit(train[features], train[target].to_numpy())
    expected = np.asarray(pipeline.predict(holdout[features]), dtype=np.float64)
    truth = holdout[target].to_numpy()
    model, served, parity = _checked_onnx(pipeline, spec, holdout, expected, options)
    seconds = time.perf_counter() - started
    comparison = compare_with_champion(champion, split, served, spec, options.holdout_fraction)
    metrics = ModelMetrics(
        **regression_metrics(truth, expected),
        holdout_size=len(holdout),
        parity_max_abs_error=parity.max_abs_error,
        parity_max_rel_error=parity.max_rel_error,
        parity_spread_error=parity.spread_error,
        parity_tolerance=options.parity_tolerance,
        train_size=len(train),
        training_seconds=seconds,
        seed=options.seed,
        hyperparameters=effective_hyperparameters(pipeline.named_steps["regressor"]),
        snapshot=snapshot.parameters.as_json() if snapshot.parameters else None,
        holdout_fraction=options.holdout_fraction,
        holdout_rows=holdout_rows(split.holdout_ids),
        comparison=comparison,
        champion_version=comparison.champion_version if comparison else None,
        champion_rmse=comparison.champion_rmse if comparison else None,
    )
    reference = reference_statistics(train, spec, pipeline.predict(train[features]))
    card = ModelCard(
        model_name=model_name,
        dataset=spec.name,
        estimator=options.estimator,
        metrics=metrics,
        inputs=onnx_inputs(spec),
        snapshot_fingerprint=snapshot.fingerprint,
        snapshot_size=snapshot.size,
        reference=reference,
    )
    return TrainedModel(onnx=model, card=card, seconds=seconds)


def _checked_onnx(
    pipeline: Pipeline,
    spec: DatasetSpec,
    holdout: pd.DataFrame,
    expected: FloatArray,
    options: TrainingOptions,
) -> tuple[bytes, FloatArray, Parity]:
    """The ONNX model, its holdout predictions and their parity with sklearn's `expected`;
    ModelRefusedError when they disagree by more than the tolerance."""
    model = to_onnx(pipeline, spec)
    served = onnx_predict(model, holdout, spec)
    spread = target_spread(holdout[spec.target.name].to_numpy())
    try:
        return model, served, check_parity(expected, served, options.parity_tolerance, spread)
    except ParityError as exc:
        raise ModelRefusedError(f"{options.estimator} model refused: {exc}") from exc


def _split(snapshot: Snapshot, fraction: float) -> Split:
    """The snapshot's split; TrainingError when either side is too small to be of use."""
    split = split_holdout(snapshot.frame, snapshot.record_ids, fraction)
    if len(split.holdout) < MIN_HOLDOUT or len(split.train) < MIN_SNAPSHOT - MIN_HOLDOUT:
        raise TrainingError(
            f"{snapshot.size} records split into {len(split.train)} to train on and "
            f"{len(split.holdout)} held out (fraction {fraction:g}); too few to train and score"
        )
    return split


def compare_with_champion(
    champion: Champion | None,
    split: Split,
    served: FloatArray,
    spec: DatasetSpec,
    fraction: float,
) -> ChampionComparison | None:
    """Both models' ONNX rmse on the holdout rows neither trained on; None without a champion
    or when it cannot be scored on them.

    Those are this run's holdout rows, narrowed to the champion's own holdout when it held
    out a smaller fraction (the rest it may have trained on).
    """
    if champion is None:
        return None
    narrower = min(fraction, champion.holdout_fraction or fraction)
    unseen = split.holdout_shares < narrower
    if int(unseen.sum()) < MIN_HOLDOUT:
        log.info("trainer: too few holdout rows unseen by champion v%d", champion.version)
        return None
    rows = split.holdout[unseen]
    champion_rmse = score_champion(champion, rows, spec)
    if champion_rmse is None:
        return None
    truth = rows[spec.target.name].to_numpy()
    ids = (i for i, keep in zip(split.holdout_ids, unseen, strict=True) if keep)
    return ChampionComparison(
        champion_version=champion.version,
        champion_rmse=champion_rmse,
        rmse=regression_metrics(truth, served[unseen])["rmse"],
        rows=holdout_rows(ids),
    )


def score_champion(champion: Champion, holdout: pd.DataFrame, spec: DatasetSpec) -> float | None:
    """RMSE of the champion's ONNX model on this run's holdout; None (logged) if its inputs do
    not fit this data set's layout or it cannot be run."""
    try:
        session = ort.InferenceSession(champion.onnx, providers=["CPUExecutionProvider"])
    except Exception as exc:  # a corrupt or foreign artifact: nothing to compare with
        log.warning("trainer: champion v%d does not load: %s", champion.version, exc)
        return None
    ours = {i.name: f"tensor({i.type})" for i in onnx_inputs(spec)}
    wanted = {i.name: i.type for i in session.get_inputs()}
    misfits = sorted(n for n, t in wanted.items() if ours.get(n) != t)
    if misfits:
        log.info("trainer: champion v%d inputs %s do not fit", champion.version, misfits)
        return None
    feeds = {n: v for n, v in onnx_feeds(holdout, spec).items() if n in wanted}
    try:
        output = session.run([session.get_outputs()[0].name], feeds)[0]
        predicted = np.asarray(output, dtype=np.float64).reshape(len(holdout))
    except Exception as exc:  # wrong output shape, runtime error
        log.warning("trainer: champion v%d cannot be scored: %s", champion.version, exc)
        return None
    rmse = regression_metrics(holdout[spec.target.name].to_numpy(), predicted)["rmse"]
    return rmse if math.isfinite(rmse) else None
