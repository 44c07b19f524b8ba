"""Real tiny ONNX models and an in-memory registry for the predictor's unit and service tests."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from onnx import TensorProto, helper
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType, StringTensorType
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from contracts import (
    CategoricalReference,
    ModelCard,
    ModelMetrics,
    ModelVersion,
    NumericReference,
    OnnxInput,
    ReferenceStatistics,
)
from mlbus.datagen import RecordGenerator

MODEL_NAME = "house-prices"
NUMERIC, CATEGORICAL = "area", "furnishingstatus"


def training_frame(rows: int = 300, seed: int = 0) -> pd.DataFrame:
    """House-price records (two features and the price) from the project's generator."""
    records = list(RecordGenerator(seed=seed).records(rows))
    frame = pd.DataFrame(records)[[NUMERIC, CATEGORICAL, "price"]]
    frame[NUMERIC] = frame[NUMERIC].astype(np.float32)
    return frame


def fit_pipeline(frame: pd.DataFrame, price_scale: float = 1.0) -> Pipeline:
    """One numeric and one categorical input, as the trainer lays them out."""
    pipeline = Pipeline(
        [
            (
                "columns",
                ColumnTransformer(
                    [
                        ("num", StandardScaler(), [NUMERIC]),
                        ("cat", OneHotEncoder(handle_unknown="ignore"), [CATEGORICAL]),
                    ]
                ),
            ),
            ("regressor", LinearRegression()),
        ]
    )
    pipeline.fit(frame[[NUMERIC, CATEGORICAL]], frame["price"] * price_scale)
    return pipeline


def to_onnx(pipeline: Pipeline) -> bytes:
    initial_types = [
        (NUMERIC, FloatTensorType([None, 1])),
        (CATEGORICAL, StringTensorType([None, 1])),
    ]
    return bytes(convert_sklearn(pipeline, initial_types=initial_types).SerializeToString())


def tiny_model_bytes(price_scale: float = 1.0) -> bytes:
    return to_onnx(fit_pipeline(training_frame(), price_scale))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def model_version(version: int, data: bytes, *, sha: str | None = None) -> ModelVersion:
    """The registry's metadata of a version whose artifact is `data`."""
    card = ModelCard(
        model_name=MODEL_NAME,
        dataset=MODEL_NAME,
        estimator="LinearRegression",
        metrics=ModelMetrics(rmse=1.0, mae=1.0, r2=0.5, holdout_size=60, parity_max_abs_error=0.0),
        inputs=(OnnxInput(name=NUMERIC, type="float"), OnnxInput(name=CATEGORICAL, type="string")),
        snapshot_fingerprint=f"snapshot-{version}",
        snapshot_size=300,
        reference=ReferenceStatistics(
            features={
                NUMERIC: NumericReference(bin_edges=(0.0, 1.0), fractions=(1.0,)),
                CATEGORICAL: CategoricalReference(frequencies={"furnished": 1.0}),
            },
            prediction=NumericReference(bin_edges=(0.0, 1.0), fractions=(1.0,)),
        ),
    )
    return ModelVersion(
        model_name=MODEL_NAME,
        version=version,
        sha256=sha or sha256(data),
        size_bytes=len(data),
        created_at="2024-01-01T00:00:00Z",
        aliases=("champion",),
        card=card,
    )


@dataclass
class FakeRegistry:
    """A ChampionSource in memory: set `champion`, store artifacts, count calls."""

    champion_version: ModelVersion | None = None
    challenger_version: ModelVersion | None = None
    artifacts: dict[int, bytes] = field(default_factory=dict)
    downloads: int = 0
    # When set, downloads wait for it: lets a test look at serving during a reload.
    gate: asyncio.Event | None = None
    model_name: str = MODEL_NAME  # the only model it answers for

    def promote(self, version: ModelVersion, data: bytes) -> None:
        self.artifacts[version.version] = data
        self.champion_version = version

    def set_challenger(self, version: ModelVersion | None, data: bytes = b"") -> None:
        if version is not None:
            self.artifacts[version.version] = data
        self.challenger_version = version

    async def alias(self, model_name: str, alias: str) -> ModelVersion | None:
        assert model_name == self.model_name
        return self.champion_version if alias == "champion" else self.challenger_version

    async def download(self, version: ModelVersion) -> bytes:
        self.downloads += 1
        if self.gate is not None:
            await self.gate.wait()
        return self.artifacts[version.version]


def scaling_model_bytes(feature: str, scale: float) -> bytes:
    """A one-input regressor predicting `scale` times `feature`: a model of another data set."""
    graph = helper.make_graph(
        [helper.make_node("Mul", [feature, "scale"], ["prediction"])],
        "scaling",
        [helper.make_tensor_value_info(feature, TensorProto.FLOAT, [None, 1])],
        [helper.make_tensor_value_info("prediction", TensorProto.FLOAT, [None, 1])],
        [helper.make_tensor("scale", TensorProto.FLOAT, [1], [scale])],
    )
    opset = [helper.make_opsetid("", 13)]
    return bytes(helper.make_model(graph, opset_imports=opset).SerializeToString())


def named_version(model_name: str, version: int, data: bytes) -> ModelVersion:
    """`model_version`, as a version of model `model_name` trained on the data set of that name."""
    metadata = model_version(version, data)
    card = metadata.card.model_copy(update={"model_name": model_name, "dataset": model_name})
    return metadata.model_copy(update={"model_name": model_name, "card": card})


@dataclass
class FakeRegistries:
    """A ModelSource of several models, each answered by its own FakeRegistry."""

    by_model: dict[str, FakeRegistry] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)  # model names, in the order asked
    failing: set[str] = field(default_factory=set)  # models whose questions raise a surprise

    def of(self, model_name: str) -> FakeRegistry:
        """The registry of `model_name`, made empty on first use."""
        return self.by_model.setdefault(model_name, FakeRegistry(model_name=model_name))

    async def alias(self, model_name: str, alias: str) -> ModelVersion | None:
        self.asked.append(model_name)
        if model_name in self.failing:
            raise RuntimeError(f"a surprise while asking about {model_name}")
        return await self.of(model_name).alias(model_name, alias)

    async def download(self, version: ModelVersion) -> bytes:
        return await self.of(version.model_name).download(version)
