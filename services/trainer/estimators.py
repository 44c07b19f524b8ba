"""The estimators a run can fit, regressors or classifiers, and the pipeline around them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from contracts import CategoricalFeature, DatasetSpec, JsonScalar

if TYPE_CHECKING:
    from collections.abc import Mapping

EstimatorName = Literal["linear", "random_forest", "hist_gradient_boosting"]
ESTIMATORS: tuple[EstimatorName, ...] = ("linear", "random_forest", "hist_gradient_boosting")
Task = Literal["regression", "classification"]
# "balanced" weighs each class by the inverse of its frequency, so a rare class (1 % fraud)
# is not simply never predicted; None weighs every record alike.
ClassWeight = Literal["balanced"] | None

# Set by the trainer itself: the seed makes runs reproducible, the thread count is a setting.
RESERVED_HYPERPARAMETERS = frozenset({"random_state", "n_jobs"})

HyperValue = JsonScalar


def make_estimator(
    name: EstimatorName,
    seed: int,
    threads: int = 1,
    hyperparameters: Mapping[str, HyperValue] | None = None,
    task: Task = "regression",
    class_weight: ClassWeight = "balanced",
) -> Any:
    """The regressor or classifier for `name` with `hyperparameters` over our defaults;
    ValueError for a parameter the estimator does not have or that the trainer sets itself.
    `class_weight` is the classifiers' default (hyperparameters may override it)."""
    if task == "classification":
        estimator = _default_classifier(name, seed, threads, class_weight)
    else:
        estimator = _default_regressor(name, seed, threads)
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
    name: EstimatorName, hyperparameters: Mapping[str, HyperValue], task: Task = "regression"
) -> None:
    """ValueError if `hyperparameters` are not valid for `name` (checked before a run)."""
    estimator = make_estimator(name, 0, 1, hyperparameters, task)
    # sklearn checks types and ranges at fit time; do it now, so a bad command fails fast.
    estimator._validate_params()


def effective_hyperparameters(estimator: Any) -> dict[str, HyperValue]:
    """The estimator's own parameters that are plain JSON values, for the model card."""
    params = estimator.get_params(deep=False).items()
    return {k: v for k, v in sorted(params) if v is None or isinstance(v, bool | int | float | str)}


def _default_regressor(name: EstimatorName, seed: int, threads: int) -> Any:
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


def _default_classifier(
    name: EstimatorName, seed: int, threads: int, class_weight: ClassWeight
) -> Any:
    """The regressors' counterparts, with the same sizes, weighted by `class_weight`."""
    match name:
        case "linear":
            # lbfgs needs more than its default 100 iterations on unscaled one-hot columns.
            return LogisticRegression(
                C=1.0, max_iter=1000, class_weight=class_weight, random_state=seed
            )
        case "random_forest":
            return RandomForestClassifier(
                n_estimators=50,
                max_depth=12,
                min_samples_leaf=5,
                class_weight=class_weight,
                random_state=seed,
                n_jobs=threads,
            )
        case "hist_gradient_boosting":
            return HistGradientBoostingClassifier(
                max_iter=200, class_weight=class_weight, random_state=seed
            )
    raise ValueError(f"unknown estimator {name!r}; choose one of {ESTIMATORS}")


def build_pipeline(
    spec: DatasetSpec,
    estimator: EstimatorName,
    seed: int = 0,
    threads: int = 1,
    hyperparameters: Mapping[str, HyperValue] | None = None,
    class_weight: ClassWeight = "balanced",
) -> Pipeline:
    """ColumnTransformer (numbers imputed, scaled for the linear model; categories one-hot),
    then the spec's kind of estimator: a classifier for a classification target."""
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
    task = spec.target.task
    model = make_estimator(estimator, seed, threads, hyperparameters, task, class_weight)
    step = "classifier" if task == "classification" else "regressor"
    return Pipeline([("features", ColumnTransformer(transformers)), (step, model)])
