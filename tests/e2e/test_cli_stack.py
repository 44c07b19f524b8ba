"""The CLI on a stack it can reach, on a real broker: publish without ids, train and read the
verdict, one prediction per record through Kafka and POST /predict, promote with a token file."""

from __future__ import annotations

import asyncio
import csv
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from mlbus.bus import publish_all, read_topic
from mlbus.datagen import RecordGenerator
from mlbus.demo import DEMO_ENV
from mlbus.registry_token import write_token_file
from mlbus.runner import Stack

# What brokers do differently: on tansu (test-fast) as well as Apache Kafka (test-kafka).
pytestmark = [pytest.mark.e2e, pytest.mark.both_brokers]

LABELLED = 300


@pytest.fixture(scope="module")
def stack_env() -> dict[str, str]:
    return dict(DEMO_ENV)  # no automatic run below 800 new records: the CLI asks for them


def mlbus(
    stack: Stack, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    bus = (
        "--bootstrap",
        stack.config.bootstrap_servers,
        "--topic-prefix",
        stack.config.topic_prefix,
    )
    command = [sys.executable, "-m", "mlbus", *args]
    if args[0] in ("publish", "train"):
        command += bus
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, **(env or {})},
    )


def _train(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    urls = ("--trainer", stack.config.url("trainer"), "--registry", stack.config.url("registry"))
    return mlbus(stack, "train", *urls, "--timeout", "120", *args)


def _csv_without_ids(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[k for k in rows[0] if k != "record_id"])
        writer.writeheader()
        writer.writerows({k: v for k, v in row.items() if k != "record_id"} for row in rows)
    return path


@pytest.fixture(scope="module")
def trained(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> str:
    """`mlbus train` before any record is skipped; after a publish, it trains version 1."""
    early = _train(stack)
    assert early.returncode == 1, early.stdout + early.stderr
    assert "skipped: 0 records buffered" in early.stdout

    rows = list(RecordGenerator(seed=21).records(LABELLED - 1))
    rows.append(dict(rows[0]))  # the same row twice: two records, neither a duplicate
    path = _csv_without_ids(tmp_path_factory.mktemp("data") / "houses.csv", rows)
    published = mlbus(stack, "publish", str(path), "--wait", "60")
    assert published.returncode == 0, published.stderr
    assert f"accepted {LABELLED} (training {LABELLED}, prediction 0)" in published.stdout
    assert "duplicate 0" in published.stdout

    again = mlbus(stack, "publish", str(path), "--wait", "60")
    assert f"duplicate {LABELLED}" in again.stdout  # the same file again: the same ids

    result = _train(stack, "--estimator", "linear")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"trained house-prices v1 on {LABELLED} records" in result.stdout
    assert "registered as champion" in result.stdout
    return result.stdout


_SPELLINGS = {"yes": (" YES ", "y", "Yes", "true"), "no": ("No", "n", " NO", "false")}


def _spellings() -> list[dict[str, Any]]:
    """Unlabelled records, half of them spelt the way people type them."""
    records = list(RecordGenerator(seed=33, id_prefix="same").records(40, labelled=False))
    for index, record in enumerate(records[::2]):
        record["area"] = str(record["area"])  # a number as text
        record["bedrooms"] = f" {record['bedrooms']} "
        record["furnishingstatus"] = f" {record['furnishingstatus'].upper()}"
        for name in ("mainroad", "guestroom", "basement"):
            record[name] = _SPELLINGS[record[name]][index % 4]
    return records


def test_the_same_records_get_the_same_predictions_through_kafka_and_http(
    stack: Stack, trained: str
) -> None:
    stack.wait_service_ready("predictor", timeout=60)
    records = _spellings()
    topics = stack.config.topic_prefix
    asyncio.run(
        publish_all(
            stack.config.bootstrap_servers,
            topics + "ingest.raw.v1",
            records,
            key=lambda r: str(r["record_id"]),
        )
    )
    results = asyncio.run(
        read_topic(
            stack.config.bootstrap_servers,
            topics + "predict.results.v1",
            until=lambda m: len({p["record_id"] for p in m}) >= len(records),
            timeout=60,
        )
    )
    by_kafka = {p["record_id"]: p for p in results}
    assert set(by_kafka) == {r["record_id"] for r in records}

    body = [
        {"record_id": r["record_id"], "features": {k: v for k, v in r.items() if k != "record_id"}}
        for r in records
    ]
    answer = httpx.post(stack.config.url("predictor") + "/predict", json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    by_http = {p["record_id"]: p for p in answer.json()["predictions"]}
    assert set(by_http) == set(by_kafka)
    for record_id, made in by_kafka.items():
        assert by_http[record_id]["prediction"] == made["prediction"], record_id
        assert by_http[record_id]["features"] == made["features"], record_id  # normalised alike

    # What ingest dead-letters, /predict refuses with the same reasons.
    bad = {"area": "huge", "bedrooms": 99, "mainroad": "perhaps"}
    refused = httpx.post(
        stack.config.url("predictor") + "/predict",
        json={"record_id": "bad", "features": {**body[1]["features"], **bad}},
        timeout=30,
    )
    assert refused.status_code == 422
    reasons = refused.json()["detail"]["rejected"][0]["reasons"]
    assert [(r["field"], r["rule"]) for r in reasons] == [
        ("area", "type"),
        ("bedrooms", "max"),
        ("mainroad", "category"),
    ]


def test_promote_and_rollback_with_the_token_file_of_the_stack(stack: Stack, trained: str) -> None:
    second = _train(stack, "--estimator", "random_forest")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "trained house-prices v2" in second.stdout
    token_file = write_token_file(stack.config.workdir, stack.config.registry_token)
    registry = ("--registry", stack.config.url("registry"))
    no_env = {"MLBUS_REGISTRY_TOKEN": "", "MLBUS_STATE_DIR": str(stack.config.workdir / "state")}

    refused = mlbus(stack, "promote", "house-prices", "1", *registry, env=no_env)
    assert refused.returncode == 1
    assert "a registry token is needed" in refused.stderr

    promote = ("promote", "house-prices", "2", *registry, "--token-file", str(token_file))
    promoted = mlbus(stack, *promote, env=no_env)
    assert promoted.returncode == 0, promoted.stderr
    assert "champion is now v2" in promoted.stdout
    back = mlbus(
        stack, "rollback", "house-prices", *registry, "--token-file", str(token_file), env=no_env
    )
    assert back.returncode == 0, back.stderr
    assert "champion is now v1" in back.stdout
