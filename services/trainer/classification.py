"""One classifier run: stratified holdout, fit, ONNX probabilities checked, scores, card."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import numpy as np

from contracts import ModelCard, ModelMetrics, ScoreComparison
from services.trainer.champion import champion_feeds, champion_session
from services.trainer.classifier_onnx import Classified, check_probability_parity, onnx_classify
from services.trainer.classifier_scores import ClassProbabilities, classification_scores, score
from services.trainer.estimators import build_pipeline, effective_hyperparameters
from services.trainer.holdout import Split, checked_split, holdout_rows
from services.trainer.onnx_export import (
    PROBABILITIES_OUTPUT,
    ParityError,
    onnx_inputs,
    to_onnx,
)
from services.trainer.reference import classifier_reference
from services.trainer.run_types import (
    MIN_HOLDOUT,
    Champion,
    ModelRefusedError,
    TrainedModel,
    TrainingError,
    TrainingOptions,
)

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline

    from contracts import ClassificationTarget, DatasetSpec, ReferenceStatistics
    from services.trainer.snapshot import Snapshot

log = logging.getLogger(__name__)


def train_classifier(
    snapshot: Snapshot,
    spec: DatasetSpec,
    target: ClassificationTarget,
    model_name: str,
    options: TrainingOptions,
    champion: Champion | None,
) -> TrainedModel:
    """Fit, score on the stratified holdout (and the champion on the same rows), convert to
    ONNX, check the probabilities' parity; TrainingError / ModelRefusedError as regression."""
    started = time.perf_counter()
    labels = [str(label) for label in snapshot.frame[target.name]]
    split = checked_split(snapshot.frame, snapshot.record_ids, options.holdout_fraction, labels)
    pipeline = _fitted(split.train, spec, target, options)
    classes = tuple(str(c) for c in pipeline.classes_)
    expected = _sklearn_classified(pipeline, split.holdout, spec)
    model, served, parity = _checked_onnx(pipeline, spec, split.holdout, expected, options)
    seconds = time.perf_counter() - started
    truth = split.holdout[target.name].to_numpy(dtype=object)
    scores = classification_scores(
        truth, ClassProbabilities(expected.probabilities, classes, target)
    )
    metrics = ModelMetrics(
        task="classification",
        metric=target.metric,
        **scores,
        holdout_size=len(split.holdout),
        parity_max_abs_error=parity,
        parity_tolerance=options.probability_tolerance,
        train_size=len(split.train),
        training_seconds=seconds,
        seed=options.seed,
        hyperparameters=effective_hyperparameters(pipeline.steps[-1][1]),
        snapshot=snapshot.parameters.as_json() if snapshot.parameters else None,
        holdout_fraction=options.holdout_fraction,
        holdout_rows=holdout_rows(split.holdout_ids),
        score_comparison=compare_with_champion(
            champion, split, served, classes, spec, options.holdout_fraction
        ),
    )
    card = ModelCard(
        model_name=model_name,
        dataset=spec.name,
        estimator=options.estimator,
        metrics=metrics,
        inputs=onnx_inputs(spec),
        snapshot_fingerprint=snapshot.fingerprint,
        snapshot_size=snapshot.size,
        reference=_reference(split.train, served, spec, target, classes),
        target=target,
        classes=classes,
    )
    return TrainedModel(onnx=model, card=card, seconds=seconds)


def _fitted(
    train: pd.DataFrame, spec: DatasetSpec, target: ClassificationTarget, options: TrainingOptions
) -> Pipeline:
    """The classifier pipeline fitted on the training rows; TrainingError with one class."""
    present = sorted(set(train[target.name]))
    if len(present) < 2:
        raise TrainingError(f"the training rows hold one class only ({present}); need two")
    pipeline = build_pipeline(
        spec,
        options.estimator,
        options.seed,
        options.threads,
        options.hyperparameters,
        options.class_weight,
    )
    pipeline.fit(train[spec.feature_names], train[target.name].to_numpy(dtype=object))
    return pipeline


def _sklearn_classified(pipeline: Pipeline, frame: pd.DataFrame, spec: DatasetSpec) -> Classified:
    features = frame[spec.feature_names]
    return Classified(
        labels=np.asarray(pipeline.predict(features), dtype=object),
        probabilities=np.asarray(pipeline.predict_proba(features), dtype=np.float64),
    )


def _checked_onnx(
    pipeline: Pipeline,
    spec: DatasetSpec,
    holdout: pd.DataFrame,
    expected: Classified,
    options: TrainingOptions,
) -> tuple[bytes, Classified, float]:
    """The ONNX model, its holdout answers and the largest probability difference with
    sklearn's; ModelRefusedError beyond the tolerance or on labels that disagree."""
    model = to_onnx(pipeline, spec)
    served = onnx_classify(model, holdout, spec)
    classes = [str(c) for c in pipeline.classes_]
    try:
        parity = check_probability_parity(expected, served, classes, options.probability_tolerance)
    except ParityError as exc:
        raise ModelRefusedError(f"{options.estimator} model refused: {exc}") from exc
    return model, served, parity


def _reference(
    train: pd.DataFrame,
    holdout_answers: Classified,
    spec: DatasetSpec,
    target: ClassificationTarget,
    classes: tuple[str, ...],
) -> ReferenceStatistics:
    """The monitor's baseline: features and labels from the training rows; predicted classes
    (as the predictor decides them) and probabilities from the served (ONNX) model's answers
    on the holdout rows. A model is far surer of the rows it was fitted on (boosted trees put
    probabilities at 1e-6 where unseen rows get 1e-3), and sklearn's float64 probabilities of
    1e-9 are 0 in the served float32 ones: binned on either, live traffic like the training
    data would drift."""
    probabilities = ClassProbabilities(holdout_answers.probabilities, classes, target)
    return classifier_reference(
        train,
        spec,
        probabilities.decide(),
        {name: holdout_answers.probabilities[:, i] for i, name in enumerate(classes)},
        target.classes,
    )


def compare_with_champion(
    champion: Champion | None,
    split: Split,
    served: Classified,
    classes: tuple[str, ...],
    spec: DatasetSpec,
    fraction: float,
) -> ScoreComparison | None:
    """Both models' ONNX scores by the spec's metric on the holdout rows neither trained on
    (as training.compare_with_champion); None without a champion, or a classifier one, or
    when either cannot be scored there (ROC AUC needs both classes)."""
    target = spec.classification
    if champion is None or target is None:
        return None
    narrower = min(fraction, champion.holdout_fraction or fraction)
    unseen = split.holdout_shares < narrower
    if int(unseen.sum()) < MIN_HOLDOUT:
        log.info("trainer: too few holdout rows unseen by champion v%d", champion.version)
        return None
    rows = split.holdout[unseen]
    truth = rows[target.name].to_numpy(dtype=object)
    theirs = score_champion(champion, rows, spec, truth)
    ours = score(
        target.metric, truth, ClassProbabilities(served.probabilities[unseen], classes, target)
    )
    if theirs is None or ours is None:
        return None
    ids = (i for i, keep in zip(split.holdout_ids, unseen, strict=True) if keep)
    return ScoreComparison(
        champion_version=champion.version,
        metric=target.metric,
        champion_score=theirs,
        score=ours,
        rows=holdout_rows(ids),
    )


def score_champion(
    champion: Champion, rows: pd.DataFrame, spec: DatasetSpec, truth: np.ndarray
) -> float | None:
    """The champion classifier's score by the spec's metric on `rows`; None (logged) if it is
    no classifier, does not fit this data set's inputs, or cannot be run or scored."""
    target = spec.classification
    if target is None or champion.classes is None:
        log.info("trainer: champion v%d is no classifier: not compared", champion.version)
        return None
    session = champion_session(champion, spec)
    if session is None:
        return None
    try:
        output = session.run([PROBABILITIES_OUTPUT], champion_feeds(session, rows, spec))[0]
        probabilities = np.asarray(output, dtype=np.float64).reshape(len(rows), -1)
        return score(
            target.metric, truth, ClassProbabilities(probabilities, champion.classes, target)
        )
    except Exception as exc:  # no probabilities output, wrong shape, foreign classes
        log.warning("trainer: champion v%d cannot be scored: %s", champion.version, exc)
        return None
