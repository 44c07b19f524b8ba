"""One training run as plain functions: pipeline, holdout metrics, ONNX, parity, model card."""

from __future__ import annotations

import logging
import math
import time
from typing import TYPE_CHECKING

import numpy as np
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from contracts import ChampionComparison, DatasetSpec, ModelCard, ModelMetrics
from services.trainer.champion import champion_feeds, champion_session
from services.trainer.classification import train_classifier
from services.trainer.estimators import (
    ESTIMATORS,
    RESERVED_HYPERPARAMETERS,
    EstimatorName,
    HyperValue,
    build_pipeline,
    effective_hyperparameters,
    make_estimator,
    validate_hyperparameters,
)
from services.trainer.holdout import Split, checked_split, holdout_rows, split_holdout
from services.trainer.onnx_export import (
    FloatArray,
    Parity,
    ParityError,
    check_parity,
    onnx_inputs,
    onnx_predict,
    target_spread,
    to_onnx,
)
from services.trainer.reference import reference_statistics
from services.trainer.run_types import (
    MIN_HOLDOUT,
    MIN_SNAPSHOT,
    Champion,
    ModelRefusedError,
    TrainedModel,
    TrainingError,
    TrainingOptions,
)

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline

    from services.trainer.snapshot import Snapshot

# Names the rest of the trainer (and its tests) import from here.
__all__ = [
    "ESTIMATORS",
    "MIN_HOLDOUT",
    "MIN_SNAPSHOT",
    "RESERVED_HYPERPARAMETERS",
    "Champion",
    "EstimatorName",
    "HyperValue",
    "ModelRefusedError",
    "Split",
    "TrainedModel",
    "TrainingError",
    "TrainingOptions",
    "build_pipeline",
    "compare_with_champion",
    "effective_hyperparameters",
    "make_estimator",
    "regression_metrics",
    "score_champion",
    "split_holdout",
    "train_model",
    "validate_hyperparameters",
]

log = logging.getLogger(__name__)


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
        target = spec.classification
        if target is not None:
            return train_classifier(snapshot, spec, target, model_name, options, champion)
        return _train(snapshot, spec, model_name, options, champion)


def _train(
    snapshot: Snapshot,
    spec: DatasetSpec,
    model_name: str,
    options: TrainingOptions,
    champion: Champion | None,
) -> TrainedModel:
    started = time.perf_counter()
    split = checked_split(snapshot.frame, snapshot.record_ids, options.holdout_fraction)
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
        hyperparameters=effective_hyperparameters(pipeline.steps[-1][1]),
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
    if champion.classes is not None:
        log.info("trainer: champion v%d is a classifier: not compared", champion.version)
        return None
    session = champion_session(champion, spec)
    if session is None:
        return None
    feeds = champion_feeds(session, holdout, spec)
    try:
        output = session.run([session.get_outputs()[0].name], feeds)[0]
        predicted = np.asarray(output, dtype=np.float64).reshape(len(holdout))
    except Exception as exc:  # wrong output shape, runtime error
        log.warning("trainer: champion v%d cannot be scored: %s", champion.version, exc)
        return None
    rmse = regression_metrics(holdout[spec.target.name].to_numpy(), predicted)["rmse"]
    return rmse if math.isfinite(rmse) else None
