"""Three data sets of different shapes in one running stack, the second and third registered
with `mlbus spec register` while the first is being scored.

The stack starts with the diabetes spec (a regression); breast cancer (binary, the diagnosis
as words) and wine (three cultivars coded 0, 1, 2) are registered into it later and their
rows published with `mlbus publish --dataset`. Each gets its own champion, trained on its own
records; every unlabelled row of each gets a prediction from its own model; and no service
process restarted along the way.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine

from contracts import ModelVersion
from mlbus.brokers import Broker
from mlbus.runner import Stack
from tests.e2e.own_data_support import (
    DataSet,
    Files,
    predictions_for,
    start_stack,
    write_files,
)
from tests.support.polling import eventually_sync

pytestmark = pytest.mark.e2e


def _diabetes() -> pd.DataFrame:
    frame = load_diabetes(as_frame=True, scaled=False).frame
    return frame.rename(columns={"target": "progression"})


def _cancer() -> pd.DataFrame:
    data = load_breast_cancer(as_frame=True)
    frame: pd.DataFrame = data.frame.drop(columns=["target"])
    frame.columns = [re.sub(r"\W+", "_", c) for c in frame.columns]
    frame["diagnosis"] = [str(data.target_names[t]) for t in data.target]
    return frame


def _wine() -> pd.DataFrame:
    frame: pd.DataFrame = load_wine(as_frame=True).frame
    frame.columns = [re.sub(r"\W+", "_", c) for c in frame.columns]
    return frame.rename(columns={"target": "cultivar"})


FIRST = DataSet("diabetes", "progression", _diabetes)
LATER = [DataSet("cancer", "diagnosis", _cancer), DataSet("wine", "cultivar", _wine)]


def mlbus(stack: Stack, *args: str) -> str:
    """The CLI as a user runs it against this stack; its output (fails on a non-zero exit)."""
    config = stack.config
    env = {
        **os.environ,
        "MLBUS_REGISTRY_URL": config.url("registry"),
        "MLBUS_REGISTRY_TOKEN": config.registry_token,
    }
    done = subprocess.run(
        [sys.executable, "-m", "mlbus", *args], env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, f"mlbus {args[0]} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def publish(stack: Stack, path: Path, files: Files, dataset: str) -> None:
    config = stack.config
    mlbus(
        stack,
        *("publish", str(path), "--dataset", dataset, "--spec", str(files.spec)),
        *("--bootstrap", config.bootstrap_servers, "--topic-prefix", config.topic_prefix),
        *("--wait", "0"),
    )


def folder(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


def wait_for_champion(stack: Stack, model: str) -> ModelVersion:
    url = f"{stack.config.url('registry')}/models/{model}/aliases/champion"

    def champion() -> ModelVersion | None:
        response = httpx.get(url, timeout=10)
        return ModelVersion.model_validate_json(response.content) if response.is_success else None

    found = eventually_sync(
        champion,
        what=f"a champion of {model}",
        timeout=240,
        interval=1.0,
        context=lambda: stack.log_tail("trainer"),
    )
    assert found is not None
    return found


def test_data_sets_registered_at_run_time_get_their_own_models(
    broker: Broker, tmp_path: Path
) -> None:
    files = {d.name: write_files(d, folder(tmp_path / d.name)) for d in [FIRST, *LATER]}
    env = {"MLBUS_TRAINER_RETRAIN_EVERY": "100", "MLBUS_TRAINER_MIN_RECORDS": "50"}
    first = files[FIRST.name]
    stack = start_stack(broker, folder(tmp_path / "stack"), first, extra_env=env)
    try:
        stack.wait_ready(timeout=300)  # a loaded machine: imports alone can take a minute
        check_every_data_set(stack, files)
    finally:
        stack.stop()


def check_every_data_set(stack: Stack, files: dict[str, Files]) -> None:
    first = files[FIRST.name]
    started = {name: process.pid for name, process in stack.processes.items()}
    publish(stack, first.labelled_csv, first, FIRST.name)
    wait_for_champion(stack, FIRST.name)
    publish(stack, first.unlabelled_csv, first, FIRST.name)  # scored while others join
    for later in LATER:
        output = mlbus(stack, "spec", "register", str(files[later.name].spec))
        assert f"{later.name}: spec v1" in output
        publish(stack, files[later.name].labelled_csv, files[later.name], later.name)
    for data in [FIRST, *LATER]:
        card = wait_for_champion(stack, data.name).card
        assert card.dataset == data.name
        assert card.snapshot_size <= len(files[data.name].labelled)
    for data in LATER:
        publish(stack, files[data.name].unlabelled_csv, files[data.name], data.name)
    for data in [FIRST, *LATER]:
        ids = set(files[data.name].unlabelled["record_id"])
        found = predictions_for(stack, ids)
        assert {found[i]["model_name"] for i in ids} == {data.name}
    stack.check_alive()
    assert {name: process.pid for name, process in stack.processes.items()} == started
