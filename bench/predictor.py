"""Predictions/s of the predictor against the Kafka client's ceiling and a naive baseline.

    .venv/bin/python -m bench.predictor            # quick: 10,000 records, 3 runs each
    .venv/bin/python -m bench.predictor --full     # 100,000 records, 5 runs each
    .venv/bin/python -m bench.predictor --task classification   # a classifier, as below

The model is a random forest of 50 trees on generated house-price records: a regressor of the
price (--task regression, the default), or a classifier (--task classification) of the same
records into "cheap" and "expensive", served with its probabilities (ClassificationMade; the
naive contender computes them with predict_proba too).

On the broker `mlbus up` starts by default (Apache Kafka where Java 17+ runs; --broker tansu
or kafka to choose), with the client settings it gives the services, in the same run, each
contender in a process of its own, on topics of its own per run:
  (a) ceiling: a raw aiokafka consume -> republish loop (no decoding, no model),
  (b) the mlbus predictor (python -m services.predictor, beside a real registry),
  (c) naive: per message json.loads, sklearn predict on a one-row DataFrame, awaited publish.
The requests are on the topic before the contender starts; its rate is the number of outputs
over the span of their broker timestamps (first to last), so start-up does not count.
Then (a)'s and (b)'s end-to-end latency (request sent -> result's timestamp) at a paced
1,000 events/s (--latency-rate), p99 as the median of --latency-runs runs.
Goals (issues 5 and 14): (b)/(a) >= 0.7, (b)/(c) >= 200, p99 <= 10 ms at 1,000 events/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
import pandas as pd
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from contracts import (
    HOUSE_PRICES,
    CategoricalFeature,
    CategoricalReference,
    ClassificationMade,
    ClassificationTarget,
    DatasetSpec,
    ModelCard,
    ModelMetrics,
    NumericReference,
    OnnxInput,
    PredictionMade,
    PredictionRequested,
    ReferenceStatistics,
    Topics,
)
from mlbus.brokers import BrokerKind, start_broker
from mlbus.brokers.choice import default_broker_kind
from mlbus.bus import ensure_topics, publish_all
from mlbus.datagen import RecordGenerator
from mlbus.runner import Stack, StackConfig
from services.common.serve import freeze_startup_objects, tune_gc
from services.common.settings import KafkaSettings
from services.predictor.config import Settings as PredictorSettings

ROOT = Path(__file__).resolve().parents[1]

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

# The records of both tasks: house prices. The classifier's target is the price band.
SPEC = HOUSE_PRICES
PRICE_BAND = DatasetSpec(
    name="house-price-band",
    target=ClassificationTarget(name="band", classes=("cheap", "expensive")),
    features=HOUSE_PRICES.features,
)
SPECS = {"regression": HOUSE_PRICES, "classification": PRICE_BAND}
PREDICTOR_BATCH: int = PredictorSettings.model_fields["batch_max_records"].default


# --- the model: one sklearn pipeline, its ONNX twin for the registry -------------------------


def fit_pipeline(trees: int = 50, seed: int = 0, spec: DatasetSpec = SPEC) -> Any:
    """A random forest on generated records, fed as the trainer feeds it (deterministic): a
    regressor of the price, or for a classification spec a classifier of its band."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    frame = model_frame(list(RecordGenerator(SPEC, seed=0).records(2000)))
    categorical = [f.name for f in SPEC.features if isinstance(f, CategoricalFeature)]
    numeric = [f.name for f in SPEC.features if f.name not in categorical]
    columns = ColumnTransformer(
        [
            ("num", StandardScaler(), numeric),
            ("cat", OneHotEncoder(handle_unknown="ignore"), categorical),
        ]
    )
    forest_type = RandomForestRegressor if spec.classification is None else RandomForestClassifier
    forest = forest_type(n_estimators=trees, max_depth=12, random_state=seed, n_jobs=1)
    pipeline = Pipeline([("columns", columns), ("estimator", forest)])
    target = frame[SPEC.target.name]
    if spec.classification is not None:  # the upper half of the prices is "expensive"
        target = np.where(target >= target.median(), "expensive", "cheap")
    pipeline.fit(frame[[f.name for f in SPEC.features]], target)
    return pipeline


def model_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Numbers and booleans as float32 (None -> NaN), categories as strings."""
    data: dict[str, Any] = {}
    for feature in SPEC.features:
        values = [row.get(feature.name) for row in rows]
        if isinstance(feature, CategoricalFeature):
            data[feature.name] = np.array(["" if v is None else str(v) for v in values], object)
        else:
            data[feature.name] = np.array([np.nan if v is None else v for v in values], np.float32)
    if rows and SPEC.target.name in rows[0]:
        data[SPEC.target.name] = [row[SPEC.target.name] for row in rows]
    return pd.DataFrame(data)


def onnx_and_card(
    pipeline: Any, rmse: float = 1.0, spec: DatasetSpec = SPEC
) -> tuple[bytes, ModelCard]:
    from services.trainer.onnx_export import onnx_inputs, to_onnx

    forest = pipeline.named_steps["estimator"]
    classes = tuple(str(c) for c in forest.classes_) if spec.classification else None
    card = ModelCard(
        model_name=spec.name,
        dataset=spec.name,
        estimator=type(forest).__name__,
        metrics=_metrics(classes, rmse),
        inputs=tuple(OnnxInput(name=i.name, type=i.type) for i in onnx_inputs(SPEC)),
        snapshot_fingerprint=uuid.uuid4().hex,
        snapshot_size=2000,
        reference=ReferenceStatistics(
            features={
                f.name: (
                    CategoricalReference(
                        frequencies={c: 1 / len(f.categories) for c in f.categories}
                    )
                    if isinstance(f, CategoricalFeature)
                    else NumericReference(bin_edges=(0.0, 1e9), fractions=(1.0,))
                )
                for f in SPEC.features
            },
            prediction=(
                NumericReference(bin_edges=(0.0, 1e9), fractions=(1.0,))
                if classes is None
                else CategoricalReference(frequencies=dict.fromkeys(classes, 1 / len(classes)))
            ),
        ),
        target=spec.target,
        classes=classes,
    )
    onnx = to_onnx(pipeline, SPEC) if classes is None else classifier_onnx(pipeline, forest)
    return onnx, card


def _metrics(classes: tuple[str, ...] | None, loss: float) -> ModelMetrics:
    """Made-up holdout scores (`loss`: rmse, or log loss), which promotion compares: the bench
    measures serving, not the model."""
    if classes is None:
        return ModelMetrics(rmse=loss, mae=loss, r2=0.5, holdout_size=400, parity_max_abs_error=0)
    return ModelMetrics(
        task="classification",
        metric="log_loss",
        log_loss=loss,
        accuracy=0.9,
        holdout_size=400,
        parity_max_abs_error=0,
    )


def classifier_onnx(pipeline: Any, forest: Any) -> bytes:
    """The trainer's input layout; outputs the label and the probabilities (no ZipMap)."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    from services.trainer.onnx_export import onnx_inputs

    initial_types = [
        (i.name, StringTensorType([None, 1]) if i.type == "string" else FloatTensorType([None, 1]))
        for i in onnx_inputs(SPEC)
    ]
    model = convert_sklearn(
        pipeline, initial_types=initial_types, options={id(forest): {"zipmap": False}}
    )
    return bytes(model.SerializeToString())


def upload(config: StackConfig, onnx: bytes, card: ModelCard) -> dict[str, Any]:
    response = httpx.post(
        f"{config.url('registry')}/models/{card.model_name}/versions",
        headers={"Authorization": f"Bearer {config.registry_token}"},
        files={"artifact": ("model.onnx", onnx, "application/octet-stream")},
        data={"card": card.model_dump_json()},
        timeout=60,
    )
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


# --- requests and outputs ---------------------------------------------------------------------


def requests(prefix: str, count: int, seed: int = 1, dataset: str = SPEC.name) -> list[bytes]:
    records = RecordGenerator(SPEC, seed=seed, id_prefix=prefix).records(count, labelled=False)
    return [
        PredictionRequested(record_id=r.pop("record_id"), dataset=dataset, features=r)
        .model_dump_json()
        .encode()
        for r in records
    ]


async def send(bootstrap: str, topic: str, payloads: list[bytes]) -> None:
    await publish_all(bootstrap, topic, payloads, key=lambda p: json.loads(p)["record_id"])


async def read_timestamps(
    bootstrap: str,
    topic: str,
    count: int,
    timeout: float,
    stop: Callable[[], None] = lambda: None,
    prefix: str = "",
) -> dict[str, int]:
    """record_id -> broker timestamp (ms) of the first `count` outputs on `topic` whose record
    id starts with `prefix`.

    Every contender keys its outputs by record id: the key is read, not the JSON, so this
    reader takes as little as it can of the two cores it shares with the contender."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    seen: dict[str, int] = {}
    deadline = time.monotonic() + timeout
    try:
        while len(seen) < count and time.monotonic() < deadline:
            stop()
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                for message in batch:
                    key = message.key.decode()
                    if key.startswith(prefix):
                        seen.setdefault(key, message.timestamp)
    finally:
        await consumer.stop()
    if len(seen) < count:
        raise TimeoutError(f"{topic}: {len(seen)} of {count} outputs after {timeout:.0f}s")
    return seen


def rate(timestamps: dict[str, int]) -> float:
    span_ms = max(timestamps.values()) - min(timestamps.values())
    return (len(timestamps) - 1) * 1000 / max(span_ms, 1)


# --- the contenders (a) and (c), run as `bench/predictor.py --role ...` -----------------------


async def passthrough(bootstrap: str, topics: Topics) -> None:
    consumer = AIOKafkaConsumer(
        topics.predict_requests,
        bootstrap_servers=bootstrap,
        group_id=f"{topics.predict_requests}.passthrough",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=KafkaSettings().fetch_max_wait_ms,  # as the predictor
    )
    # The services' producer sizes, so (a) is the ceiling of the client as mlbus sets it up.
    kafka = KafkaSettings()
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        max_batch_size=kafka.producer_batch_bytes,
        max_request_size=kafka.producer_request_bytes,
    )
    await consumer.start()
    await producer.start()
    tune_gc()  # the services' garbage-collector settings, so (a) runs as well tuned as (b)
    freeze_startup_objects()
    while True:
        # The predictor's batch size; (a)'s rate hardly depends on it (500 to 5,000 measured).
        batches = await consumer.getmany(timeout_ms=10, max_records=PREDICTOR_BATCH)
        pending = [
            await producer.send(topics.predict_results, m.value, key=m.key)
            for batch in batches.values()
            for m in batch
        ]
        await asyncio.gather(*pending)
        if pending:
            await consumer.commit()


async def naive(bootstrap: str, topics: Topics, spec: DatasetSpec) -> None:
    pipeline = fit_pipeline(spec=spec)
    consumer = AIOKafkaConsumer(
        topics.predict_requests,
        bootstrap_servers=bootstrap,
        group_id=f"{topics.predict_requests}.naive",
        auto_offset_reset="earliest",
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await consumer.start()
    await producer.start()
    async for message in consumer:
        request = PredictionRequested.model_validate_json(message.value)
        made = naive_result(pipeline, request, spec)
        await producer.send_and_wait(
            topics.predict_results, made.model_dump_json().encode(), key=message.key
        )


def naive_result(
    pipeline: Any, request: PredictionRequested, spec: DatasetSpec
) -> PredictionMade | ClassificationMade:
    """One request scored on its own with scikit-learn: a prediction, or a classification."""
    ids = {"record_id": request.record_id, "request_event_id": request.event_id}
    frame = model_frame([request.features])
    target = spec.classification
    if target is None:
        value = float(pipeline.predict(frame)[0])
        return PredictionMade(
            **ids,
            model_name=spec.name,
            model_version=1,
            prediction=value,
            features=request.features,
        )
    classes = [str(c) for c in pipeline.classes_]
    probabilities = dict(zip(classes, pipeline.predict_proba(frame)[0].tolist(), strict=True))
    chosen = probabilities[target.positive] >= target.threshold
    return ClassificationMade(
        **ids,
        model_name=spec.name,
        model_version=1,
        prediction=target.positive if chosen else next(c for c in classes if c != target.positive),
        probabilities=probabilities,
        threshold=target.threshold,
        features=request.features,
    )


# --- orchestration ----------------------------------------------------------------------------


@contextmanager
def process(
    args: list[str], log: Path, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        child = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    try:
        yield child
    finally:
        child.terminate()
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        if child.returncode not in (0, -15):
            print(f"  (process exited {child.returncode}; log {log})")


class Bench:
    def __init__(self, bootstrap: str, workdir: Path, spec: DatasetSpec = SPEC) -> None:
        self.bootstrap = bootstrap
        self.workdir = workdir
        self.spec = spec
        self.registry = StackConfig.with_free_ports(bootstrap, workdir, topic_prefix="reg.")
        if spec is not SPEC:  # the registry and the predictor serve this spec
            self.registry.spec_path = workdir / f"{spec.name}.json"
            self.registry.spec_path.write_text(spec.model_dump_json())
        self.stack = Stack(self.registry)
        self.runs = 0

    def start_registry(self, topics: Topics) -> None:
        """(Re)start the registry publishing its events on `topics` (its data stays)."""
        self.stack.stop_service("registry")
        self.stack.log_dir.mkdir(parents=True, exist_ok=True)
        self.stack.start_service("registry", self.predictor_env(topics))
        _wait_http(self.registry.url("registry") + "/readyz")

    def fresh_topics(self, tag: str) -> Topics:
        self.runs += 1
        topics = Topics.with_prefix(f"{tag}{self.runs}-{uuid.uuid4().hex[:6]}.")
        asyncio.run(ensure_topics(self.bootstrap, topics.all()))
        return topics

    def predictor_env(self, topics: Topics, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {**os.environ, **self.registry.env()}
        env["MLBUS_KAFKA_TOPIC_PREFIX"] = topics.predict_requests.removesuffix(
            "predict.requests.v1"
        )
        return {**env, **(extra or {})}

    def contender(self, kind: str, topics: Topics) -> Any:
        log = self.workdir / f"{kind}.log"
        if kind == "predictor":
            args = [sys.executable, "-m", "services.predictor"]
            return process(args, log, self.predictor_env(topics))
        prefix = topics.predict_requests.removesuffix("predict.requests.v1")
        args = [
            sys.executable,
            "-m",
            "bench.predictor",
            "--role",
            kind,
            "--bootstrap",
            self.bootstrap,
            "--task",
            self.spec.target.task,
        ]
        return process([*args, "--prefix", prefix], log)

    def measure(self, kind: str, count: int) -> tuple[float, float]:
        """Predictions/s of one fresh contender draining `count` queued requests, and the CPU
        time it spent per output meanwhile (µs; the machine's other load does not inflate it)."""
        topics = self.fresh_topics(kind[0])
        payloads = requests(kind, count, dataset=self.spec.name)
        asyncio.run(send(self.bootstrap, topics.predict_requests, payloads))
        with self.contender(kind, topics) as child, CpuSampler(child.pid) as cpu:
            stamps = asyncio.run(
                read_timestamps(self.bootstrap, topics.predict_results, count, timeout=600)
            )
        first, last = min(stamps.values()) / 1000, max(stamps.values()) / 1000
        return rate(stamps), cpu.between(first, last) * 1e6 / max(1, count - 1)

    def latency(self, kind: str, seconds: float, per_second: int) -> tuple[float, float]:
        """p50 and p99 (ms) from request sent to output timestamp, at `per_second` requests/s."""
        topics = self.fresh_topics("l")
        with self.contender(kind, topics):
            # Joins the group, warms up.
            warm = paced_latency(self.bootstrap, topics, 100, 2.0, self.spec, prefix="warm")
            asyncio.run(warm)
            latencies = asyncio.run(
                paced_latency(self.bootstrap, topics, per_second, seconds, self.spec)
            )
        return percentile(latencies, 50), percentile(latencies, 99)


class CpuSampler:
    """Samples a process's CPU time every few milliseconds, to read it over a span of time."""

    def __init__(self, pid: int, every: float = 0.005) -> None:
        self.pid, self.every = pid, every
        self.samples: list[tuple[float, float]] = []  # (wall time, CPU seconds)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> CpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.samples.append((time.time(), cpu_seconds(self.pid)))

    def between(self, start: float, end: float) -> float:
        """CPU seconds used from `start` to `end` (wall times), from the nearest samples."""
        before = [cpu for at, cpu in self.samples if at <= start] or [self.samples[0][1]]
        after = [cpu for at, cpu in self.samples if at >= end] or [self.samples[-1][1]]
        return after[0] - before[-1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far (Linux /proc; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


async def paced_send(
    producer: AIOKafkaProducer, topic: str, payloads: list[bytes], per_second: int
) -> dict[str, float]:
    """Send `per_second` payloads a second, in 10 ms slices; record id -> wall time sent (ms)."""
    sent_at: dict[str, float] = {}
    start, per_slice = time.perf_counter(), max(1, per_second // 100)
    for first in range(0, len(payloads), per_slice):
        if (wait := start + first / per_second - time.perf_counter()) > 0:
            await asyncio.sleep(wait)
        for payload in payloads[first : first + per_slice]:
            record_id = json.loads(payload)["record_id"]
            sent_at[record_id] = time.time() * 1000
            await producer.send(topic, payload, key=record_id.encode())
    await producer.flush()
    return sent_at


async def paced_latency(
    bootstrap: str,
    topics: Topics,
    per_second: int,
    seconds: float,
    spec: DatasetSpec,
    prefix: str = "lat",
) -> list[float]:
    """Send `per_second` requests a second for `seconds`; ms from each send to its result.

    Record ids start with `prefix`: a warm-up on the same topics must use another one, or its
    results would be taken for these (negative latencies at low rates)."""
    payloads = requests(prefix, int(per_second * seconds), seed=7, dataset=spec.name)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    await producer.start()
    reader = asyncio.create_task(
        read_timestamps(
            bootstrap, topics.predict_results, len(payloads), timeout=seconds + 60, prefix=prefix
        )
    )
    try:
        sent_at = await paced_send(producer, topics.predict_requests, payloads, per_second)
        results = await reader
    finally:
        await producer.stop()
    return [results[r] - sent_at[r] for r in sent_at]


def run(args: argparse.Namespace) -> None:
    count = args.count or (100_000 if args.full else 10_000)
    naive_count = 2_000 if args.full else 150
    runs = args.runs or (5 if args.full else 3)
    with tempfile.TemporaryDirectory(prefix="bench-predictor-") as tmp:
        workdir = Path(tmp)
        kind: BrokerKind = args.broker or default_broker_kind()
        with start_broker(kind, workdir / "broker") as broker:
            print(f"broker: {kind} at {broker.bootstrap_servers}")
            os.environ.update(broker.client_env())  # the contenders run as mlbus up runs them
            bench = Bench(broker.bootstrap_servers, workdir, SPECS[args.task])
            bench.start_registry(Topics.with_prefix("reg."))
            try:
                run_contenders(bench, count, naive_count, 0 if args.only_latency else runs, args)
            finally:
                bench.stack.stop()


def run_contenders(
    bench: Bench, count: int, naive_count: int, runs: int, args: argparse.Namespace
) -> None:
    seconds = args.latency_seconds
    onnx, card = onnx_and_card(fit_pipeline(spec=bench.spec), spec=bench.spec)
    version = upload(bench.registry, onnx, card)
    kind = f"classifier of {', '.join(card.classes)}" if card.classes else "regressor"
    print(
        f"model: {card.model_name} v{version['version']} (random forest {kind}, 50 trees),"
        f" {len(onnx)} bytes"
    )
    print(f"{count} requests per run for (a) and (b), {naive_count} for (c); {runs} runs each")
    rates: dict[str, list[float]] = {"passthrough": [], "predictor": [], "naive": []}
    cpu: dict[str, list[float]] = {"passthrough": [], "predictor": [], "naive": []}
    for i in range(runs):
        for kind, n in (("passthrough", count), ("predictor", count), ("naive", naive_count)):
            per_second, cpu_us = bench.measure(kind, n)
            rates[kind].append(per_second)
            cpu[kind].append(cpu_us)
        print(
            f"  run {i + 1}: "
            + ", ".join(f"{k} {rates[k][-1]:,.0f}/s ({cpu[k][-1]:.0f} µs CPU)" for k in rates)
        )
    if runs:
        print_rates(rates, cpu)
    for kind, label in (("passthrough", "(a)"), ("predictor", "(b)")):
        p99s = []
        for _ in range(args.latency_runs):
            p50, p99 = bench.latency(kind, seconds, args.latency_rate)
            p99s.append(p99)
            print(
                f"{label} latency at {args.latency_rate:,} events/s for {seconds:.0f} s:"
                f" p50 {p50:.1f} ms, p99 {p99:.1f} ms"
            )
        goal = " (goal <= 10 ms at 1,000 events/s)" if kind == "predictor" else ""
        print(f"{label} p99, median of {len(p99s)}: {statistics.median(p99s):.1f} ms{goal}")


def print_rates(rates: dict[str, list[float]], cpu: dict[str, list[float]]) -> None:
    a, b, c = (statistics.median(rates[k]) for k in ("passthrough", "predictor", "naive"))
    cpu_a, cpu_b = (statistics.median(cpu[k]) for k in ("passthrough", "predictor"))
    print(f"(a) raw aiokafka pass-through   {a:>10,.0f} messages/s (median)")
    print(f"(b) mlbus predictor             {b:>10,.0f} predictions/s (median)")
    print(f"(c) naive per-message sklearn   {c:>10,.0f} predictions/s (median)")
    print(f"(b)/(a) = {b / a:.2f}   (goal >= 0.7)")
    print(f"(b)/(c) = {b / c:.0f}   (goal >= 200)")
    print(
        f"CPU per output (median): (a) {cpu_a:.1f} µs, (b) {cpu_b:.1f} µs;"
        f" (a)/(b) = {cpu_a / cpu_b:.2f}, the rate ratio if both were bound by one core"
    )


def _wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the issue's sizes")
    parser.add_argument("--broker", choices=("tansu", "kafka"), help="default: what mlbus up runs")
    parser.add_argument("--latency-seconds", type=float, default=5.0)
    parser.add_argument("--latency-rate", type=int, default=1000, help="events/s, paced")
    parser.add_argument("--latency-runs", type=int, default=3, help="p99: median of these")
    parser.add_argument("--only-latency", action="store_true", help="skip the throughput runs")
    parser.add_argument(
        "--task",
        choices=tuple(SPECS),
        default="regression",
        help="the model: regressor or classifier (probabilities out) of the same records",
    )
    parser.add_argument("--count", type=int, help="requests per throughput run (default: 10,000)")
    parser.add_argument("--runs", type=int, help="throughput runs per contender (default: 3)")
    parser.add_argument("--role", choices=("passthrough", "naive"), help=argparse.SUPPRESS)
    parser.add_argument("--bootstrap", help=argparse.SUPPRESS)
    parser.add_argument("--prefix", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        topics = Topics.with_prefix(args.prefix)
        if args.role == "passthrough":
            asyncio.run(passthrough(args.bootstrap, topics))
        else:
            asyncio.run(naive(args.bootstrap, topics, SPECS[args.task]))
        return
    run(args)


if __name__ == "__main__":
    main()
