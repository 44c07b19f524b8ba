"""Three data sets of different shapes in one running stack, the second and third registered
with `mlbus spec register` while the first is being scored.

The stack starts with the diabetes spec (a regression); breast cancer (binary, the diagnosis
as words) and wine (three cultivars coded 0, 1, 2) are registered into it later and their
rows published with `mlbus publish --dataset`. Each gets its own champion, trained on its own
records; every unlabelled row of each gets a prediction from its own model; and no service
process restarted along the way.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from contracts import ModelVersion
from mlbus.brokers import Broker
from mlbus.runner import Stack
from tests.e2e.own_data_support import (
    Files,
    predictions_for,
    start_stack,
    write_files,
)
from tests.e2e.public_data import BREAST_CANCER, DIABETES, WINE
from tests.support.polling import eventually_sync
from tests.support.stack_cli import stack_cli

pytestmark = pytest.mark.e2e


FIRST, LATER = DIABETES, [BREAST_CANCER, WINE]


def publish(stack: Stack, path: Path, files: Files, dataset: str) -> None:
    config = stack.config
    stack_cli(
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
        output = stack_cli(stack, "spec", "register", str(files[later.name].spec))
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
