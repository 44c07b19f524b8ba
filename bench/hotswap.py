"""Model swaps under load: records in, results out, errors, seconds from promotion to first result.

    .venv/bin/python -m bench.hotswap          # quick: 2,000 events/s, 10 s, promote every 3 s
    .venv/bin/python -m bench.hotswap --full   # the issue's: 10,000 events/s, 30 s, every 5 s

On the embedded tansu broker (--broker kafka for Apache Kafka): a real registry and one
predictor process. Requests stream at a paced rate while new versions (random forests of other
seeds, uploaded with a lower holdout RMSE so the registry promotes each) arrive on a timer.
Errors = requests dead-lettered + missing results + duplicate results. The switch time of a
version is from its ModelPromoted event's broker timestamp to the broker timestamp of the
first result naming that version. Goal (issue 5): results = records, 0 errors, every switch
<= 1 s. The baseline measured in the same run: the same stream with no promotion (its results
and errors), so the swaps' own cost shows.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.predictor import (  # same model, requests, processes
    Bench,
    fit_pipeline,
    onnx_and_card,
    paced_send,
    requests,
    upload,
)
from mlbus.brokers import start_broker

if TYPE_CHECKING:
    from collections.abc import Callable

    from contracts import Topics


async def read_all(bootstrap: str, topic: str, until: int, timeout: float) -> list[Any]:
    """(timestamp ms, decoded JSON) of `topic`'s messages, once `until` arrived or at timeout."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    out: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while len(out) < until and time.monotonic() < deadline:
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                out.extend((m.timestamp, json.loads(m.value)) for m in batch)
    finally:
        await consumer.stop()
    return out


async def stream(
    bench: Bench,
    topics: Topics,
    prefix: str,
    rate: tuple[int, float],
    swaps: list[tuple[float, Callable[[], Any]]],
) -> int:
    """Send the requests; at each (offset s, upload) run the upload beside the stream."""
    per_second, seconds = rate
    payloads = requests(prefix, int(per_second * seconds), seed=bench.runs)
    producer = AIOKafkaProducer(bootstrap_servers=bench.bootstrap, linger_ms=5)
    await producer.start()

    async def promote_on_time() -> None:
        started = time.monotonic()
        for at, job in swaps:
            await asyncio.sleep(max(0.0, started + at - time.monotonic()))
            await asyncio.to_thread(job)

    try:
        promoter = asyncio.create_task(promote_on_time())
        started = time.monotonic()
        sent = await paced_send(producer, topics.predict_requests, payloads, per_second)
        took = time.monotonic() - started
        await promoter
    finally:
        await producer.stop()
    print(f"  sent {len(sent)} requests in {took:.1f} s ({len(sent) / took:,.0f}/s)")
    return len(sent)


def report(
    bench: Bench, topics: Topics, prefix: str, sent: int, label: str, started_ms: int
) -> list[float]:
    """Print what came out of one stream; the switch seconds of each promoted version."""
    everything = asyncio.run(read_all(bench.bootstrap, topics.predict_results, sent, timeout=90))
    results = [(t, r) for t, r in everything if r["record_id"].startswith(prefix)]
    rejected = asyncio.run(read_all(bench.bootstrap, topics.rejected, 1, timeout=3))
    events = asyncio.run(read_all(bench.bootstrap, topics.models, 10**6, timeout=3))
    counts = Counter(r["record_id"] for _, r in results)
    missing, duplicates = sent - len(counts), sum(c - 1 for c in counts.values())
    errors = len(rejected) + missing + duplicates
    first_result: dict[int, int] = {}
    for stamp, result in results:
        version = result["model_version"]
        first_result[version] = min(stamp, first_result.get(version, stamp))
    print(
        f"{label}: records in {sent}, results out {len(counts)}, errors {errors}"
        f" (dead-lettered {len(rejected)}, missing {missing}, duplicates {duplicates})"
    )
    switches: list[float] = []
    for stamp, event in events:
        if event.get("kind") != "model.promoted.v1" or stamp < started_ms:
            continue
        version = event["version"]
        if version not in first_result:
            print(f"  v{version}: promoted, but no result named it")
            continue
        switches.append((first_result[version] - stamp) / 1000)
        print(f"  v{version}: first result {switches[-1]:.3f} s after its ModelPromoted")
    return switches


def run(args: argparse.Namespace) -> None:
    rate, every = ((10_000, 30.0), 5.0) if args.full else ((2_000, 10.0), 3.0)
    with tempfile.TemporaryDirectory(prefix="bench-hotswap-") as tmp:
        workdir = Path(tmp)
        with start_broker(args.broker, workdir / "broker") as broker:
            bench = Bench(broker.bootstrap_servers, workdir)
            try:
                measure(bench, rate, every)
            finally:
                bench.stack.stop()


def measure(bench: Bench, rate: tuple[int, float], every: float) -> None:
    per_second, seconds = rate
    offsets = [every * i for i in range(1, int(seconds / every) + 1) if every * i < seconds]
    print(f"training {1 + len(offsets)} versions (random forests of 20 trees, seeds 0..)")
    models = [
        onnx_and_card(fit_pipeline(trees=20, seed=i), rmse=100.0 - i)
        for i in range(1 + len(offsets))
    ]
    print(f"{per_second:,} events/s for {seconds:.0f} s; promotions at {offsets} s")

    def uploader(index: int) -> Callable[[], Any]:
        return lambda: upload(bench.registry, *models[index])

    plans: list[tuple[str, list[tuple[float, Callable[[], Any]]]]] = [
        ("baseline, no promotion", []),
        ("with promotions", [(at, uploader(i + 1)) for i, at in enumerate(offsets)]),
    ]
    switches: list[float] = []
    for label, swaps in plans:
        topics = bench.fresh_topics("h")
        bench.start_registry(topics)  # the registry publishes on this run's models topic
        if not swaps:
            upload(bench.registry, *models[0])
        with bench.contender("predictor", topics):
            asyncio.run(_warm_up(bench, topics))
            prefix, started_ms = f"hs{bench.runs}-", int(time.time() * 1000)
            sent = asyncio.run(stream(bench, topics, prefix, rate, swaps))
            switches = report(bench, topics, prefix, sent, label, started_ms)
    if switches:
        print(
            f"switch seconds: median {statistics.median(switches):.3f}, max {max(switches):.3f}"
            " (goal: every switch <= 1 s)"
        )


async def _warm_up(bench: Bench, topics: Topics) -> None:
    """A few requests through, so the predictor has its model and its partitions."""
    payloads = requests(f"warm{bench.runs}-", 20)
    producer = AIOKafkaProducer(bootstrap_servers=bench.bootstrap)
    await producer.start()
    try:
        await paced_send(producer, topics.predict_requests, payloads, 1000)
    finally:
        await producer.stop()
    await read_all(bench.bootstrap, topics.predict_results, len(payloads), timeout=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="10,000 events/s for 30 s")
    parser.add_argument("--broker", choices=("tansu", "kafka"), default="tansu")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
