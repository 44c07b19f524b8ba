"""Seconds from a TrainModel command to the ModelPromoted event, on the real stack.

    .venv/bin/python -m bench.train            # 10,000 records (quick)
    .venv/bin/python -m bench.train --full     # 10,000 and 100,000 records

Starts an embedded tansu broker and the five services as processes (mlbus.runner.Stack),
loads N generated labelled records onto the records topic, waits until the trainer buffered
them, then per run: makes a weak first version champion of a fresh model name (untimed), and
times a default TrainModel for that name until its ModelPromoted arrives (champion fetched and
scored on the new holdout, upload, promotion). The baseline, measured
in the same run on the same records, is one in-process training (snapshot, fit, holdout
metrics, ONNX conversion, parity check, reference statistics) with the trainer's settings: the
ratio shows what the bus, the registry and the processes add. Goal: <= 10 s for 10,000.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from contracts import HOUSE_PRICES, RecordIngested, Topics, TrainModel
from mlbus.brokers import new_broker
from mlbus.bus import publish_all
from mlbus.datagen import RecordGenerator
from mlbus.runner import Stack, StackConfig
from services.trainer.snapshot import take_snapshot
from services.trainer.training import TrainingOptions, train_model

GOAL_SECONDS = 10.0
STACK_ENV = {
    "MLBUS_TRAINER_RETRAIN_EVERY": "100000000",  # only the commands train
    "MLBUS_TRAINER_MIN_RECORDS": "200",
    "MLBUS_TRAINER_MAX_RECORDS": "100000",
    "MLBUS_TRAINER_BATCH_MAX_RECORDS": "2000",
}


def generated(start: int, count: int) -> list[RecordIngested]:
    """Labelled records start .. start+count of one deterministic stream, as ingest emits them."""
    generator = RecordGenerator(HOUSE_PRICES, seed=42, id_prefix="bench")
    raws = list(generator.records(start + count))[start:]
    return [
        RecordIngested(
            record_id=raw[HOUSE_PRICES.record_id_field],
            dataset=HOUSE_PRICES.name,
            features={name: raw[name] for name in HOUSE_PRICES.feature_names},
            target=raw[HOUSE_PRICES.target.name],
        )
        for raw in raws
    ]


def baseline_seconds(records: list[RecordIngested], runs: int) -> list[float]:
    """In-process snapshot + train_model with the trainer's default options."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        snapshot = take_snapshot(records, HOUSE_PRICES)
        train_model(snapshot, HOUSE_PRICES, "bench-baseline", TrainingOptions())
        times.append(time.perf_counter() - started)
    return times


async def wait_buffered(trainer_url: str, count: int, timeout: float) -> float:
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=trainer_url, timeout=5) as client:
        while time.monotonic() - started < timeout:
            status = (await client.get("/status")).json()
            if status["records_buffered"] >= count:
                return time.monotonic() - started
            await asyncio.sleep(0.2)
    raise TimeoutError(f"the trainer did not buffer {count} records in {timeout:.0f}s")


class ModelEvents:
    """Reads the models topic from its current end: ModelRegistered / ModelPromoted by name."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
        )
        self._topic = topic

    async def start(self) -> None:
        await self._consumer.start()
        await self._consumer.topics()  # refreshes the metadata partitions_for_topic reads
        ids = self._consumer.partitions_for_topic(self._topic) or set()
        self._consumer.assign([TopicPartition(self._topic, p) for p in sorted(ids)])
        await self._consumer.seek_to_end()
        await self._consumer.getmany(timeout_ms=200)  # resolves the positions now

    async def stop(self) -> None:
        await self._consumer.stop()

    async def until_promoted(self, model_name: str, timeout: float) -> dict[str, Any]:
        """The ModelRegistered metrics of `model_name` once its ModelPromoted arrived."""
        deadline = time.monotonic() + timeout
        registered: dict[str, Any] = {}
        while time.monotonic() < deadline:
            batches = await self._consumer.getmany(timeout_ms=100)
            for message in (m for batch in batches.values() for m in batch):
                event = json.loads(message.value or b"{}")
                if event.get("model_name") != model_name:
                    continue
                if event["kind"] == "model.registered.v1":
                    registered = event["metrics"]
                elif event["kind"] == "model.promoted.v1":
                    return registered
                elif event["kind"] == "model.refused.v1":
                    raise RuntimeError(f"{model_name} refused: {event['reason']}")
        raise TimeoutError(f"no ModelPromoted for {model_name} within {timeout:.0f}s")


async def timed_runs(
    config: StackConfig, events: ModelEvents, size: int, runs: int
) -> list[tuple[float, float]]:
    """(seconds TrainModel -> ModelPromoted, the trainer's own training seconds) per run.

    Each timed run trains a model name whose champion is a deliberately weak first version
    (one boosting iteration), so the timed run does all a real retraining does: fetch the
    champion, score it on the new holdout, upload, and get promoted over it.
    """
    topics = Topics.with_prefix(config.topic_prefix)
    results = []
    for run in range(runs):
        name = f"bench-{size}-{run}"
        weak = TrainModel(
            model_name=name,
            estimator="hist_gradient_boosting",
            hyperparameters={"max_iter": 1},
            reason="bench: weak champion",
        )
        await publish_all(config.bootstrap_servers, topics.trainer_commands, [weak])
        await events.until_promoted(name, timeout=300)
        command = TrainModel(model_name=name, reason="bench")
        started = time.perf_counter()
        await publish_all(config.bootstrap_servers, topics.trainer_commands, [command])
        metrics = await events.until_promoted(name, timeout=300)
        if metrics.get("champion_rmse") is None:
            raise RuntimeError(f"{name}: the champion was not scored on the new holdout")
        results.append((time.perf_counter() - started, float(metrics.get("training_seconds", 0))))
    return results


async def bench(config: StackConfig, sizes: list[int], runs: int) -> list[dict[str, Any]]:
    topics = Topics.with_prefix(config.topic_prefix)
    events = ModelEvents(config.bootstrap_servers, topics.models)
    await events.start()
    rows = []
    loaded = 0
    try:
        for size in sizes:
            records = generated(loaded, size - loaded)
            started = time.perf_counter()
            await publish_all(
                config.bootstrap_servers, topics.records, records, key=lambda r: r.record_id
            )
            await wait_buffered(config.url("trainer"), size, timeout=600)
            load_seconds = time.perf_counter() - started
            loaded = size
            measured = await timed_runs(config, events, size, runs)
            everything = generated(0, size)
            baseline = await asyncio.to_thread(baseline_seconds, everything, runs)
            rows.append(
                {
                    "records": size,
                    "load_s": load_seconds,
                    "e2e_s": [m[0] for m in measured],
                    "trainer_fit_s": [m[1] for m in measured],
                    "baseline_s": baseline,
                }
            )
    finally:
        await events.stop()
    return rows


def report(rows: list[dict[str, Any]], runs: int) -> None:
    print(
        f"\nbench/train.py: TrainModel -> ModelPromoted, median of {runs} runs (tansu, 5 services)"
    )
    print(
        f"{'records':>8} {'e2e s':>7} {'min..max':>13} {'fit+onnx s':>10} "
        f"{'in-proc s':>9} {'e2e/in-proc':>11} {'load s':>7}  goal"
    )
    for row in rows:
        e2e = statistics.median(row["e2e_s"])
        fit = statistics.median(row["trainer_fit_s"])
        base = statistics.median(row["baseline_s"])
        span = f"{min(row['e2e_s']):.2f}..{max(row['e2e_s']):.2f}"
        goal = ""
        if row["records"] == 10_000:
            goal = "OK (<= 10 s)" if e2e <= GOAL_SECONDS else "MISSED (> 10 s)"
        print(
            f"{row['records']:>8} {e2e:>7.2f} {span:>13} {fit:>10.2f} {base:>9.2f} "
            f"{e2e / base:>11.2f} {row['load_s']:>7.1f}  {goal}"
        )
    print(
        "fit+onnx = the trainer's own training_seconds (fit, ONNX, parity) from ModelRegistered;"
        " in-proc = snapshot + train_model in this process (baseline)."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="also 100,000 records")
    parser.add_argument("--runs", type=int, default=3, help="timed commands per size")
    args = parser.parse_args()
    sizes = [10_000, 100_000] if args.full else [10_000]
    with tempfile.TemporaryDirectory(prefix="mlbus-bench-") as tmp:
        workdir = Path(tmp)
        with new_broker("tansu", workdir / "broker") as broker:
            config = StackConfig.with_free_ports(
                broker.bootstrap_servers,
                workdir,
                topic_prefix=f"bench{uuid.uuid4().hex[:8]}.",
                extra_env=STACK_ENV,
            )
            with Stack(config) as stack:
                stack.wait_ready(timeout=90)
                rows = asyncio.run(bench(config, sizes, args.runs))
                stack.check_alive()
    report(rows, args.runs)


if __name__ == "__main__":
    main()
