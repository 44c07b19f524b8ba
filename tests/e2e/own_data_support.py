"""A new user's own data set through the CLI and a stack: the files, the CLI, the reads.

Shared by the end-to-end tests of own regression data sets and own classification data sets.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from contracts import ModelVersion, Topics
from mlbus.brokers import Broker
from mlbus.bus import read_topic
from mlbus.runner import Stack, StackConfig

PREDICTED_SHARE = 0.2  # of the rows, published without targets


@dataclass(frozen=True)
class DataSet:
    name: str
    target: str
    load: Callable[[], pd.DataFrame]


def mlbus(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "mlbus", *args], capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, f"mlbus {args[0]} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@dataclass(frozen=True)
class Files:
    """The user's files: the whole table, its two parts, and the inferred spec."""

    spec: Path
    labelled: pd.DataFrame
    unlabelled: pd.DataFrame  # still with the targets, which the published file lacks
    labelled_csv: Path
    unlabelled_csv: Path
    labels_csv: Path  # the unlabelled rows with their targets: late labels


def write_files(data: DataSet, folder: Path) -> Files:
    frame = data.load()
    frame.insert(0, "record_id", [f"{data.name}-{i:05d}" for i in range(len(frame))])
    whole = folder / f"{data.name}.csv"
    frame.to_csv(whole, index=False)
    spec = folder / f"{data.name}.yaml"
    mlbus("spec", "infer", str(whole), "--target", data.target, "-o", str(spec))
    shuffled = frame.sample(frac=1.0, random_state=1).reset_index(drop=True)
    cut = round(len(shuffled) * (1 - PREDICTED_SHARE))
    labelled, unlabelled = shuffled.iloc[:cut], shuffled.iloc[cut:]
    labelled_csv, unlabelled_csv = folder / "labelled.csv", folder / "unlabelled.csv"
    labels_csv = folder / "labels.csv"
    labelled.to_csv(labelled_csv, index=False)
    unlabelled.drop(columns=[data.target]).to_csv(unlabelled_csv, index=False)
    unlabelled.to_csv(labels_csv, index=False)
    return Files(spec, labelled, unlabelled, labelled_csv, unlabelled_csv, labels_csv)


def start_stack(
    broker: Broker, folder: Path, files: Files, extra_env: dict[str, str] | None = None
) -> Stack:
    labelled = len(files.labelled)
    config = StackConfig.with_free_ports(
        broker.bootstrap_servers,
        folder,
        topic_prefix=f"t{uuid.uuid4().hex[:10]}.",
        # One run, once every labelled record has arrived.
        extra_env={
            "MLBUS_TRAINER_RETRAIN_EVERY": str(labelled),
            "MLBUS_TRAINER_MIN_RECORDS": "50",
            **(extra_env or {}),
        },
    )
    config.spec_path = files.spec
    return Stack(config).start()


def publish(stack: Stack, path: Path, spec: Path) -> None:
    config = stack.config
    mlbus(
        "publish",
        str(path),
        "--bootstrap",
        config.bootstrap_servers,
        "--topic-prefix",
        config.topic_prefix,
        "--spec",
        str(spec),
        "--wait",
        "0",
    )


def champion(stack: Stack, model_name: str) -> ModelVersion:
    url = f"{stack.config.url('registry')}/models/{model_name}/aliases/champion"
    return ModelVersion.model_validate_json(httpx.get(url, timeout=10).content)


def predictions_for(stack: Stack, record_ids: set[str]) -> dict[str, dict[str, Any]]:
    topic = Topics.with_prefix(stack.config.topic_prefix).predict_results

    def complete(messages: list[dict[str, Any]]) -> bool:
        return record_ids <= {m["record_id"] for m in messages}

    found = asyncio.run(
        read_topic(stack.config.bootstrap_servers, topic, until=complete, timeout=90)
    )
    return {m["record_id"]: m for m in found}
