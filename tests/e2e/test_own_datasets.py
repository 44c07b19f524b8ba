"""A new user's own data set, end to end: real public data sets shipped inside PyPI packages
(scikit-learn's diabetes, statsmodels' fair and grunfeld), never seen by the project.

Each one as a user would: a CSV with a record id column, `mlbus spec infer --target` (no
edits), the five services with that spec, 80 % of the rows published labelled, a champion,
the other 20 % published without targets, a prediction for every row, and R² of those
predictions within 0.03 of the same estimator fitted offline, with sklearn directly, on the
same training rows.

The trainer holds out for good the labelled records whose id hashes below 0.2
(services.trainer.holdout) and trains on the rest; the offline estimator is fitted on exactly
those rows (the test checks the champion's card says it trained on as many), with the
trainer's estimator and settings: HistGradientBoostingRegressor(max_iter=200,
random_state=0) on the numeric columns as they are and the categories one-hot encoded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.metrics import r2_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder
from statsmodels import datasets as statsmodels_datasets  # type: ignore[import-untyped]

from mlbus.brokers import Broker
from services.common.specfile import load_spec
from services.trainer.holdout import is_held_out
from tests.e2e.own_data_support import (
    DataSet,
    Files,
    champion,
    predictions_for,
    publish,
    start_stack,
    write_files,
)
from tests.e2e.public_data import DIABETES

pytestmark = pytest.mark.e2e

R2_MARGIN = 0.03


def _fair() -> pd.DataFrame:
    """6,366 marriages; 3,000 of them keep the test fast."""
    frame = statsmodels_datasets.fair.load_pandas().data
    return frame.sample(n=3000, random_state=0).reset_index(drop=True)


def _grunfeld() -> pd.DataFrame:
    """Investment of 11 firms over 20 years; `firm` is a category."""
    frame: pd.DataFrame = statsmodels_datasets.grunfeld.load_pandas().data
    return frame.astype({"firm": str})


DATASETS = [
    DIABETES,
    DataSet("fair", "affairs", _fair),
    DataSet("grunfeld", "invest", _grunfeld),
]


def offline_r2(files: Files, target: str) -> tuple[float, int]:
    """R² on the unlabelled rows of the trainer's estimator fitted with sklearn on the rows
    the trainer trains on, and how many rows those are."""
    spec = load_spec(files.spec)
    features = spec.feature_names
    categorical = [f.name for f in spec.features if f.type == "categorical"]
    numeric = [name for name in features if name not in categorical]
    train = files.labelled[[not is_held_out(r, 0.2) for r in files.labelled["record_id"]]]
    columns = ColumnTransformer(
        [
            ("numbers", "passthrough", numeric),
            (
                "categories",
                OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                categorical,
            ),
        ]
    )
    model = Pipeline(
        [
            ("features", columns),
            ("regressor", HistGradientBoostingRegressor(max_iter=200, random_state=0)),
        ]
    )
    lowered = {name: lambda f, n=name: f[n].str.strip().str.lower() for name in categorical}
    model.fit(train[features].assign(**lowered), train[target])
    unseen = files.unlabelled[features].assign(**lowered)
    return float(r2_score(files.unlabelled[target], model.predict(unseen))), len(train)


@pytest.mark.parametrize("data", DATASETS, ids=[d.name for d in DATASETS])
def test_an_own_data_set_is_trained_served_and_as_good_as_sklearn_offline(
    data: DataSet, broker: Broker, tmp_path: Path
) -> None:
    files = write_files(data, tmp_path)
    stack = start_stack(broker, tmp_path, files)
    try:
        stack.wait_ready(timeout=300)  # a loaded machine: imports alone can take a minute
        publish(stack, files.labelled_csv, files.spec)
        stack.wait_service_ready("predictor", timeout=180)  # serves once a champion exists
        model = champion(stack, data.name)
        publish(stack, files.unlabelled_csv, files.spec)
        predictions = predictions_for(stack, set(files.unlabelled["record_id"]))
        stack.check_alive()
    finally:
        stack.stop()

    expected_r2, train_rows = offline_r2(files, data.target)
    assert model.card.dataset == data.name
    assert model.version == 1
    assert model.card.metrics.train_size == train_rows  # the same rows as offline
    assert model.card.metrics.train_size + model.card.metrics.holdout_size == len(files.labelled)
    assert set(predictions) == set(files.unlabelled["record_id"])
    assert {p["model_name"] for p in predictions.values()} == {data.name}
    predicted = np.array([predictions[r]["prediction"] for r in files.unlabelled["record_id"]])
    r2 = float(r2_score(files.unlabelled[data.target], predicted))
    print(f"{data.name}: served R² {r2:.4f}, offline sklearn R² {expected_r2:.4f}")
    assert abs(r2 - expected_r2) <= R2_MARGIN, (r2, expected_r2)
