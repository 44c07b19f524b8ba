"""Public data sets shipped inside PyPI packages, as a user's CSV would hold them."""

from __future__ import annotations

import re

import pandas as pd
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine

from tests.e2e.own_data_support import DataSet


def _columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Column names a spec accepts: every run of other characters becomes one underscore."""
    frame.columns = [re.sub(r"\W+", "_", c) for c in frame.columns]
    return frame


def diabetes_frame() -> pd.DataFrame:
    """442 patients, 10 measurements; disease progression a year later (a regression)."""
    frame = load_diabetes(as_frame=True, scaled=False).frame
    return frame.rename(columns={"target": "progression"})


def breast_cancer_frame() -> pd.DataFrame:
    """569 tumours, 30 measurements; the diagnosis as a word, as a user's CSV has it."""
    data = load_breast_cancer(as_frame=True)
    frame = _columns(data.frame.drop(columns=["target"]))
    frame["diagnosis"] = [str(data.target_names[t]) for t in data.target]
    return frame


def wine_frame() -> pd.DataFrame:
    """178 wines of three cultivars, coded 0, 1 and 2."""
    frame = _columns(load_wine(as_frame=True).frame)
    return frame.rename(columns={"target": "cultivar"})


DIABETES = DataSet("diabetes", "progression", diabetes_frame)
BREAST_CANCER = DataSet("cancer", "diagnosis", breast_cancer_frame)
WINE = DataSet("wine", "cultivar", wine_frame)
