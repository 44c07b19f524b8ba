"""CSV files of scikit-learn's bundled classification data sets, as a user would have them.

Iris (150 rows, 3 classes) and breast cancer (569 rows, 2 classes: 212 malignant, 357
benign), each with a record id column, feature names made valid (`mean radius` is
`mean_radius`), and the target as the class names (`species`, `diagnosis`) or as sklearn's
integer codes. Every `unlabelled_every`-th row can be left without a label, to be predicted.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from sklearn.datasets import load_breast_cancer, load_iris

if TYPE_CHECKING:
    from pathlib import Path

    import pandas as pd
    from sklearn.utils import Bunch


def iris_csv(path: Path, *, coded: bool = False, unlabelled_every: int = 0) -> Path:
    """Iris at `path`: four measurements and `species` (setosa, versicolor, virginica)."""
    return _write(load_iris(as_frame=True), "species", path, coded, unlabelled_every)


def breast_cancer_csv(path: Path, *, coded: bool = False, unlabelled_every: int = 0) -> Path:
    """Breast cancer at `path`: 30 measurements and `diagnosis` (malignant, benign; sklearn's
    codes 0 and 1)."""
    return _write(load_breast_cancer(as_frame=True), "diagnosis", path, coded, unlabelled_every)


def _write(bunch: Bunch, target: str, path: Path, coded: bool, unlabelled_every: int) -> Path:
    frame: pd.DataFrame = bunch.frame.rename(columns=_column_name)
    codes = frame.pop("target")
    labels = codes if coded else codes.map(dict(enumerate(bunch.target_names)))
    frame.insert(0, "record_id", [f"{path.stem}-{i}" for i in range(len(frame))])
    frame[target] = labels.astype(object)
    if unlabelled_every:
        frame.loc[frame.index % unlabelled_every == unlabelled_every - 1, target] = None
    frame.to_csv(path, index=False)
    return path


def _column_name(name: str) -> str:
    """`mean radius` as `mean_radius`, `sepal length (cm)` as `sepal_length_cm`."""
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_")
