"""Outputs/s of the mlbus predictor against the tools a user would pick instead, same model.

    .venv/bin/python bench/predictor_peers.py            # quick: 20,000 requests, 3 runs each
    .venv/bin/python bench/predictor_peers.py --full     # 100,000 requests, 5 runs each

`make bench-env` first: the Quix Streams contender runs in .venv-quix (its own pins).

On Apache Kafka (--broker tansu to choose the embedded one, which librdkafka cannot use), in the
same run, each contender in a process of its own, on topics of its own per run, the same ONNX
model (12 numeric features, a random forest of 50 trees) and the same PredictionRequested
messages, each output a PredictionMade echoing the request's features:
  (a) a Quix Streams application (bench/peers/quix_app.py): per message, session reused;
  (b) a raw confluent-kafka consume -> score -> produce loop, batched: one msgspec decode per
      batch, numpy columns, one onnxruntime call per batch, outputs from a byte template;
  (c) the mlbus predictor (python -m services.predictor, beside a real registry).
The requests are on the topic before the contender starts. Results topics stamp LogAppendTime
(Quix copies its input's timestamp to its output), so a rate is the number of outputs over the
span of their broker append times: start-up does not count. Then (b)'s and (c)'s latency from
request sent to result appended at a paced 1,000 events/s, p99 as the median of several runs.
Goals (issue 19): (c)/(a) >= 3, (c)/(b) >= 1.0, p99 of (c) within 5 ms of (b)'s;
issue 14: p99 of (c) <= 10 ms at 1,000 events/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import chain
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import msgspec
import numpy as np
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

import bench.predictor as house  # processes, readers, sampling
from contracts import (
    DatasetSpec,
    ModelCard,
    ModelMetrics,
    NumericFeature,
    NumericReference,
    OnnxInput,
    PredictionRequested,
    ReferenceStatistics,
    RegressionTarget,
    Topics,
)
from mlbus.brokers import BrokerKind, start_broker
from mlbus.bus import ensure_topics, publish_all
from services.common.specfile import dump_spec

if TYPE_CHECKING:
    from collections.abc import Iterator

# A data set of this bench's own: twelve numeric features, as in the quick check.
SPEC = DatasetSpec(
    name="bench-numeric",
    target=RegressionTarget(name="y"),
    features=tuple(NumericFeature(name=f"f{i:02d}") for i in range(12)),
)
FEATURES = SPEC.feature_names
BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
QUIX_PYTHON = ROOT / ".venv-quix" / "bin" / "python"
BATCH = 5000  # the raw loop's largest batch, as the predictor's batch_max_records


# --- the model and the messages ---------------------------------------------------------------


def fit_onnx(trees: int = 50, rows: int = 4000) -> bytes:
    """A random forest (50 trees, depth 12) on a noisy linear target, as ONNX (trainer layout:
    one [N, 1] float input per feature)."""
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from services.trainer.onnx_export import to_onnx

    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, len(FEATURES))).astype(np.float32)
    y = x @ rng.normal(size=len(FEATURES)) + rng.normal(scale=0.1, size=rows)
    columns = ColumnTransformer([("num", StandardScaler(), FEATURES)])
    forest = RandomForestRegressor(n_estimators=trees, max_depth=12, random_state=0, n_jobs=1)
    pipeline = Pipeline([("columns", columns), ("regressor", forest)])
    pipeline.fit(pd.DataFrame(x, columns=FEATURES), y)
    return to_onnx(pipeline, SPEC)


def card() -> ModelCard:
    numeric = NumericReference(bin_edges=(-1e9, 1e9), fractions=(1.0,))
    return ModelCard(
        model_name=SPEC.name,
        dataset=SPEC.name,
        estimator="RandomForestRegressor",
        metrics=ModelMetrics(rmse=1, mae=1, r2=0.5, holdout_size=800, parity_max_abs_error=0),
        inputs=tuple(OnnxInput(name=name, type="float") for name in FEATURES),
        snapshot_fingerprint=uuid.uuid4().hex,
        snapshot_size=4000,
        reference=ReferenceStatistics(
            features={name: numeric for name in FEATURES}, prediction=numeric
        ),
    )


def requests(prefix: str, count: int, seed: int = 1) -> list[bytes]:
    values = np.random.default_rng(seed).normal(size=(count, len(FEATURES))).round(4).tolist()
    return [
        PredictionRequested(
            record_id=f"{prefix}-{i}",
            dataset=SPEC.name,
            features=dict(zip(FEATURES, row, strict=True)),
        )
        .model_dump_json()
        .encode()
        for i, row in enumerate(values)
    ]


# --- (b) the raw confluent-kafka loop, run as `--role raw` ------------------------------------


class RawRequest(msgspec.Struct, gc=False):
    """The fields a prediction echoes, kept as the JSON they came in (quotes included)."""

    record_id: msgspec.Raw
    event_id: msgspec.Raw
    features: msgspec.Raw


FeatureRow = msgspec.defstruct("FeatureRow", [(name, float) for name in FEATURES], gc=False)
decode_requests = msgspec.json.Decoder(list[RawRequest]).decode
decode_rows = msgspec.json.Decoder(list[FeatureRow]).decode  # type: ignore[valid-type]
row_values = attrgetter(*FEATURES)
OUTPUT = (
    b'{"record_id":%s,"request_event_id":%s,"model_name":"' + SPEC.name.encode() + b'",'
    b'"model_version":1,"prediction":%a,"features":%s,"occurred_at":"%s","event_id":"%s",'
    b'"kind":"prediction.made.v1"}'
)
_UUID_HEX_AT = [i for i in range(36) if i not in (8, 13, 18, 23)]


def uuid4_texts(count: int) -> list[bytes]:
    """`count` random version-4 UUIDs in their text form, made by numpy for the whole batch."""
    raw = np.frombuffer(os.urandom(16 * count), np.uint8).reshape(count, 16).copy()
    raw[:, 6] = raw[:, 6] & 0x0F | 0x40
    raw[:, 8] = raw[:, 8] & 0x3F | 0x80
    digits = np.frombuffer(raw.tobytes().hex().encode(), np.uint8).reshape(count, 32)
    text = np.full((count, 36), ord("-"), np.uint8)
    text[:, _UUID_HEX_AT] = digits
    return text.view("S36").ravel().tolist()


def decode_batch(values: list[bytes]) -> tuple[list[RawRequest], list[int]]:
    """The requests of a batch in one decode, and the indexes they came from; message by
    message only when some message is not a request (the bad ones are dropped, counted)."""
    try:
        return decode_requests(b"[" + b",".join(values) + b"]"), list(range(len(values)))
    except msgspec.DecodeError:
        pass
    good: list[RawRequest] = []
    rows: list[int] = []
    for index, value in enumerate(values):
        try:
            good.extend(decode_requests(b"[" + value + b"]"))
            rows.append(index)
        except msgspec.DecodeError:
            print(f"raw loop: dropped a message that is not a request: {value[:80]!r}")
    return good, rows


def feature_columns(batch: list[RawRequest]) -> dict[str, np.ndarray[Any, Any]]:
    """One [N, 1] float32 array per model input, from one decode of the batch's features."""
    rows = decode_rows(b"[" + b",".join([r.features for r in batch]) + b"]")
    flat = np.fromiter(chain.from_iterable(map(row_values, rows)), np.float32, len(rows) * 12)
    columns = flat.reshape(len(rows), len(FEATURES)).T.copy()
    return {name: columns[i].reshape(-1, 1) for i, name in enumerate(FEATURES)}


def raw_loop(bootstrap: str, topics: Topics, model: str, group: str) -> None:
    import onnxruntime as ort
    from confluent_kafka import Consumer, Producer

    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    output = [session.get_outputs()[0].name]
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 1, "batch.size": 1 << 20})
    consumer.subscribe([topics.predict_requests])
    while True:
        messages = next_batch(consumer)
        messages = [m for m in messages if m.error() is None]
        if not messages:
            continue
        batch, rows = decode_batch([m.value() for m in messages])
        if batch:
            predictions = session.run(output, feature_columns(batch))[0].ravel().tolist()
            sources = [messages[r] for r in rows]
            produce(producer, topics.predict_results, batch, predictions, sources)
        producer.flush()  # every output acknowledged before the offsets move on
        consumer.commit(asynchronous=True)


def next_batch(consumer: Any) -> list[Any]:
    """What has arrived, up to BATCH messages, without waiting for a full batch: consume()
    with a timeout waits for the whole batch or the timeout, poll() returns on the first."""
    messages: list[Any] = consumer.consume(BATCH, timeout=0)
    if messages:
        return messages
    first = consumer.poll(1.0)
    return [] if first is None else [first, *consumer.consume(BATCH - 1, timeout=0)]


def produce(
    producer: Any, topic: str, batch: list[RawRequest], predictions: list[float], sources: list[Any]
) -> None:
    now = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()).encode() + b"Z"
    ids = uuid4_texts(len(batch))
    send = producer.produce
    for request, value, event_id, source in zip(batch, predictions, ids, sources, strict=True):
        body = OUTPUT % (
            request.record_id,
            request.event_id,
            value,
            request.features,
            now,
            event_id,
        )
        send(topic, body, source.key())
    producer.poll(0)


# --- orchestration ----------------------------------------------------------------------------


@dataclass
class Peers:
    """The broker, the registry (for the mlbus predictor) and the model file, for every run."""

    bootstrap: str
    workdir: Path
    model: Path
    bench: house.Bench
    runs: int = 0
    logs: dict[str, Path] = field(default_factory=dict)

    def fresh_topics(self, tag: str) -> Topics:
        self.runs += 1
        topics = Topics.with_prefix(f"peers-{tag}{self.runs}-{uuid.uuid4().hex[:6]}.")
        asyncio.run(create_topics(self.bootstrap, topics))
        return topics

    @contextmanager
    def contender(self, kind: str, topics: Topics) -> Iterator[Any]:
        log = self.workdir / f"{kind}.log"
        group = f"{topics.predict_requests}.{kind}"
        if kind in ("predictor", "passthrough"):  # bench/predictor.py's (aiokafka)
            with self.bench.contender(kind, topics) as child:
                yield child
            return
        if kind == "quix":
            args = [str(QUIX_PYTHON), str(BENCH / "peers" / "quix_app.py")]
            args += ["--requests", topics.predict_requests, "--results", topics.predict_results]
            args += ["--features", ",".join(FEATURES), "--name", SPEC.name]
        else:
            args = [sys.executable, __file__, "--role", kind]
            args += ["--prefix", topics.predict_requests.removesuffix("predict.requests.v1")]
        args += ["--bootstrap", self.bootstrap, "--model", str(self.model), "--group", group]
        with house.process(args, log) as child:
            yield child

    def measure(self, kind: str, count: int) -> tuple[float, float]:
        """Outputs/s of a fresh contender draining `count` queued requests, and its CPU µs per
        output meanwhile."""
        topics = self.fresh_topics(kind[0])
        payloads = requests(kind, count)
        asyncio.run(send(self.bootstrap, topics.predict_requests, payloads))
        with self.contender(kind, topics) as child, house.CpuSampler(child.pid) as cpu:
            stamps = asyncio.run(
                house.read_timestamps(self.bootstrap, topics.predict_results, count, timeout=600)
            )
        first, last = min(stamps.values()) / 1000, max(stamps.values()) / 1000
        per_second = steady_rate(stamps)
        return per_second, cpu.between(first, last) * 1e6 / max(1.0, per_second * (last - first))

    def latency(self, kind: str, seconds: float, per_second: int) -> tuple[float, float]:
        """p50 and p99 (ms) from request sent to result appended, at `per_second` requests/s."""
        topics = self.fresh_topics("l")
        with self.contender(kind, topics):
            # Joins the group, loads the model and warms up: slow on a loaded machine.
            warm_up = paced_latency(self.bootstrap, topics, 100, 2.0, prefix="warm", wait=600)
            asyncio.run(warm_up)
            latencies = asyncio.run(paced_latency(self.bootstrap, topics, per_second, seconds))
        return house.percentile(latencies, 50), house.percentile(latencies, 99)


def steady_rate(stamps: dict[str, int]) -> float:
    """Outputs appended after the first append, over the time since it (per second).

    A batching contender appends a whole batch at once: counting the outputs that share the
    first append time would credit it with a batch it made before the clock started."""
    first = min(stamps.values())
    later = sum(1 for stamp in stamps.values() if stamp > first)
    return later * 1000 / max(1, max(stamps.values()) - first)


async def create_topics(bootstrap: str, topics: Topics) -> None:
    """The results topic stamps LogAppendTime; the others as mlbus creates them."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        config = {"message.timestamp.type": "LogAppendTime"}
        await admin.create_topics([NewTopic(topics.predict_results, 4, 1, topic_configs=config)])
        await ensure_topics(bootstrap, topics.all())
        await wait_for_leaders(admin, [topics.predict_requests, topics.predict_results])
    finally:
        await admin.close()


async def wait_for_leaders(
    admin: AIOKafkaAdminClient, names: list[str], timeout: float = 30
) -> None:
    """Until every partition of `names` has a leader: a send to a topic created a moment ago
    can meet NotLeaderForPartition, and its retries would count in the figures."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described = await admin.describe_topics(names)
        partitions = [p for topic in described for p in topic.get("partitions", ())]
        if partitions and all(p.get("error_code", 0) == 0 and p["leader"] >= 0 for p in partitions):
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"no leader for some partition of {names} after {timeout:.0f}s")


async def send(bootstrap: str, topic: str, payloads: list[bytes]) -> None:
    await publish_all(bootstrap, topic, payloads, key=lambda p: json.loads(p)["record_id"])


async def paced_latency(
    bootstrap: str,
    topics: Topics,
    per_second: int,
    seconds: float,
    prefix: str = "lat",
    wait: float = 60,
) -> list[float]:
    """bench/predictor.py's paced_latency, with this bench's requests; waits up to `wait`
    seconds after the last send for the last result."""
    payloads = requests(prefix, int(per_second * seconds), seed=7)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    await producer.start()
    reader = asyncio.create_task(
        house.read_timestamps(
            bootstrap, topics.predict_results, len(payloads), timeout=seconds + wait, prefix=prefix
        )
    )
    try:
        sent_at = await house.paced_send(producer, topics.predict_requests, payloads, per_second)
        results = await reader
    finally:
        await producer.stop()
    return [results[r] - sent_at[r] for r in sent_at]


def upload(bench: house.Bench, onnx: bytes) -> None:
    config = bench.registry
    response = httpx.post(
        f"{config.url('registry')}/models/{SPEC.name}/versions",
        headers={"Authorization": f"Bearer {config.registry_token}"},
        files={"artifact": ("model.onnx", onnx, "application/octet-stream")},
        data={"card": card().model_dump_json()},
        timeout=60,
    )
    response.raise_for_status()


@dataclass
class Figures:
    """What one run of this bench measured: medians, and every run's figure."""

    count: int
    rates: dict[str, list[float]]
    cpu: dict[str, list[float]]
    p99: dict[str, list[float]]
    p50: dict[str, list[float]]

    def median(self, table: dict[str, list[float]], kind: str) -> float:
        return statistics.median(table[kind]) if table[kind] else float("nan")


def run(args: argparse.Namespace) -> Figures:
    if not QUIX_PYTHON.exists():
        raise SystemExit(f"{QUIX_PYTHON} is missing: run `make bench-env` first")
    count, runs = (100_000, 5) if args.full else (20_000, 3)
    count, runs = args.count or count, args.runs or runs
    with tempfile.TemporaryDirectory(prefix="bench-peers-") as tmp:
        workdir = Path(tmp)
        kind: BrokerKind = args.broker
        with start_broker(kind, workdir / "broker") as broker:
            print(f"broker: {kind} at {broker.bootstrap_servers}")
            os.environ.update(broker.client_env())
            peers = setup(broker.bootstrap_servers, workdir)
            try:
                if args.fetch_study:
                    fetch_study(peers, args)
                    raise SystemExit(0)
                return measure_all(peers, count, runs, args)
            finally:
                peers.bench.stack.stop()


def setup(bootstrap: str, workdir: Path) -> Peers:
    onnx = fit_onnx()
    model = workdir / "model.onnx"
    model.write_bytes(onnx)
    spec_path = workdir / "spec.yaml"
    spec_path.write_text(dump_spec(SPEC))
    bench = house.Bench(bootstrap, workdir)
    bench.registry.spec_path = spec_path  # the registry and predictor serve this bench's spec
    bench.start_registry(Topics.with_prefix("reg."))
    upload(bench, onnx)
    print(f"model: {SPEC.name} (random forest, 50 trees, 12 numeric inputs), {len(onnx)} bytes")
    return Peers(bootstrap, workdir, model, bench)


def measure_all(peers: Peers, count: int, runs: int, args: argparse.Namespace) -> Figures:
    kinds = ("quix", "raw", "predictor")
    empty: list[dict[str, list[float]]] = [{k: [] for k in kinds} for _ in range(4)]
    figures = Figures(count, *empty)
    print(f"{count:,} requests per run, {runs} runs, contenders interleaved")
    for i in range(runs):
        for kind in kinds:
            per_second, cpu_us = peers.measure(kind, count)
            figures.rates[kind].append(per_second)
            figures.cpu[kind].append(cpu_us)
        rates, cpu = figures.rates, figures.cpu
        line = (f"{k} {rates[k][-1]:,.0f}/s ({cpu[k][-1]:.0f} µs CPU)" for k in kinds)
        print(f"  run {i + 1}: " + ", ".join(line), flush=True)
    for kind in ("raw", "predictor"):
        for _ in range(args.latency_runs):
            p50, p99 = peers.latency(kind, args.latency_seconds, args.latency_rate)
            figures.p50[kind].append(p50)
            figures.p99[kind].append(p99)
            at = f"{kind} at {args.latency_rate:,}/s"
            print(f"  {at}: p50 {p50:.1f} ms, p99 {p99:.1f} ms", flush=True)
    print_table(figures, args)
    return figures


def fetch_study(peers: Peers, args: argparse.Namespace) -> None:
    """Latency of aiokafka consumers (bench/predictor.py's raw aiokafka pass-through and the
    predictor) with the services' long fetch wait and a short one, beside the raw
    confluent-kafka loop, interleaved: is aiokafka's fetch path what costs mlbus its p99?"""
    waits = [int(w) for w in args.fetch_study.split(",")]
    p99s: dict[str, list[float]] = {}
    for _ in range(args.latency_runs):
        for wait in waits:
            os.environ["MLBUS_KAFKA_FETCH_MAX_WAIT_MS"] = str(wait)
            for kind in ("passthrough", "predictor"):
                p50, p99 = peers.latency(kind, args.latency_seconds, args.latency_rate)
                p99s.setdefault(f"{kind}, fetch wait {wait} ms", []).append(p99)
                print(f"  {kind} fetch_max_wait_ms={wait}: p50 {p50:.1f} ms, p99 {p99:.1f} ms")
        p50, p99 = peers.latency("raw", args.latency_seconds, args.latency_rate)
        p99s.setdefault("raw confluent-kafka loop", []).append(p99)
        print(f"  raw confluent-kafka loop: p50 {p50:.1f} ms, p99 {p99:.1f} ms", flush=True)
    print(f"p99 at {args.latency_rate:,}/s, median of {args.latency_runs} runs:")
    for name, values in p99s.items():
        print(f"  {name:<40} {statistics.median(values):>7.1f} ms")


def print_table(figures: Figures, args: argparse.Namespace) -> None:
    quix, raw, mlbus = (figures.median(figures.rates, k) for k in ("quix", "raw", "predictor"))
    p99_raw, p99_mlbus = (figures.median(figures.p99, k) for k in ("raw", "predictor"))
    print(f"{figures.count:,} requests ({args.broker}), medians:")
    print(f"  (a) Quix Streams app, per message   {quix:>10,.0f} outputs/s")
    print(f"  (b) raw confluent-kafka, batched    {raw:>10,.0f} outputs/s")
    print(f"  (c) mlbus predictor                 {mlbus:>10,.0f} outputs/s")
    print(f"  (c)/(a) = {mlbus / quix:.2f}   (goal >= 3)")
    print(f"  (c)/(b) = {mlbus / raw:.2f}   (goal >= 1.0)")
    print(
        f"  p99 at {args.latency_rate:,}/s: (b) {p99_raw:.1f} ms, (c) {p99_mlbus:.1f} ms;"
        f" (c) - (b) = {p99_mlbus - p99_raw:+.1f} ms (goal <= 5 ms; issue 14: (c) <= 10 ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="100,000 requests, 5 runs each")
    parser.add_argument("--broker", choices=("tansu", "kafka"), default="kafka")
    parser.add_argument("--latency-seconds", type=float, default=5.0)
    parser.add_argument("--latency-rate", type=int, default=1000, help="events/s, paced")
    parser.add_argument("--latency-runs", type=int, default=3, help="p99: median of these")
    parser.add_argument("--count", type=int, help="requests per run (overrides the size)")
    parser.add_argument("--runs", type=int, help="runs per contender (overrides the size)")
    parser.add_argument(
        "--fetch-study",
        metavar="MS,MS",
        help="only: p99 of aiokafka consumers with these fetch_max_wait_ms (e.g. 500,5)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here (make bench)")
    parser.add_argument("--role", choices=("raw",), help=argparse.SUPPRESS)
    for hidden in ("--bootstrap", "--prefix", "--model", "--group"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        raw_loop(args.bootstrap, Topics.with_prefix(args.prefix), args.model, args.group)
        return
    figures = run(args)
    if args.json:
        args.json.write_text(json.dumps(figures.__dict__, indent=1))


if __name__ == "__main__":
    main()
