"""Records/s validated, normalised and routed by one ingest process against the Kafka client.

    .venv/bin/python -m bench.ingest            # quick: 10,000 records, 3 runs each
    .venv/bin/python -m bench.ingest --full     # 50,000 records, 5 runs each

On Apache Kafka (--broker tansu for the embedded broker), in the same run, each contender in
a process of its own, on topics of its own per run:
  (a) mlbus ingest (python -m services.ingest): batch subscriber, validation of the batch,
      every output sent at once and awaited together, commit after the acknowledgements;
  (b) baseline: a faststream subscriber per message running the same validation and routing
      (services.ingest.routing.Ingestor), awaiting each publish (the phase-1 ingest);
  (c) ceiling: a raw aiokafka pass-through (consume a batch, republish every record's bytes
      unchanged, await the acks, commit), with the services' client settings.
The raw records (10% invalid; a fifth of the count for (b), whose rate is per message anyway)
are on the topic before the contender starts; its rate is the number of outputs over the span of
their broker timestamps (first to last), so start-up does not count. Then ingest's own work
is timed without Kafka (CPU per record), which is what the gap between (a) and (c) is made of.
Goals: (a)/(c) >= 0.7 (issue 19); (a)/(b) >= 10 (issue 3).
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
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer

from contracts import HOUSE_PRICES, Envelope, Topics
from mlbus.brokers import start_broker
from mlbus.bus import ensure_topics, publish_all
from mlbus.datagen import RecordGenerator
from mlbus.publishing import topic_partitions
from mlbus.runner import free_port
from services.common.offsets import log_end_offsets

ROOT = Path(__file__).resolve().parents[1]


def records(count: int) -> list[dict[str, Any]]:
    """`count` raw records, one in ten invalid (an unknown category)."""
    generated = list(RecordGenerator(seed=11, id_prefix=uuid.uuid4().hex[:6]).records(count))
    for index in range(0, count, 10):
        generated[index]["furnishingstatus"] = "palatial"
    return generated


async def output_span(bootstrap: str, topics: Topics) -> tuple[int, float]:
    """How many outputs the contender published, and the seconds between the first and last."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        names = (topics.records, topics.predict_requests, topics.rejected)
        partitions = await topic_partitions(bootstrap, names)
        ends = await log_end_offsets(consumer, partitions)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        stamps: list[int] = []
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            for batch in (await consumer.getmany(timeout_ms=500, max_records=10_000)).values():
                stamps.extend(message.timestamp for message in batch)
        return len(stamps), (max(stamps) - min(stamps)) / 1000
    finally:
        await consumer.stop()


def _env(bootstrap: str, prefix: str) -> dict[str, str]:
    return {
        **os.environ,
        "MLBUS_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "MLBUS_KAFKA_TOPIC_PREFIX": prefix,
        "MLBUS_INGEST_PORT": str(free_port()),
        "PYTHONPATH": str(ROOT),
    }


def run_ingest(bootstrap: str, prefix: str, count: int, logs: Path) -> None:
    """The real ingest process until its metrics account for `count` records."""
    env = _env(bootstrap, prefix)
    url = f"http://127.0.0.1:{env['MLBUS_INGEST_PORT']}/metrics"
    with (logs / f"{prefix}ingest.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.ingest"], env=env, stdout=log, stderr=log, cwd=ROOT
        )
        try:
            deadline = time.monotonic() + 600
            while _accounted(url) < count:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"ingest stopped or too slow; see {log.name}")
                time.sleep(0.1)
        finally:
            process.terminate()
            process.wait(10)


def _accounted(url: str) -> float:
    try:
        text = httpx.get(url, timeout=2).text
    except httpx.HTTPError:
        return 0.0
    lines = [line for line in text.splitlines() if line.startswith("mlbus_ingest_records_total{")]
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines)


def run_baseline(bootstrap: str, prefix: str, count: int, logs: Path) -> None:
    """The per-message handler in its own process, until it has handled `count` records."""
    command = [sys.executable, "-m", "bench.ingest", "--baseline-worker", str(count)]
    with (logs / f"{prefix}baseline.log").open("wb") as log:
        subprocess.run(
            command, env=_env(bootstrap, prefix), stdout=log, stderr=log, check=True, timeout=900
        )


async def baseline_worker(count: int) -> None:
    """A faststream subscriber per message: the same Ingestor, each publish awaited."""
    from faststream.kafka import KafkaBroker
    from prometheus_client import CollectorRegistry

    from services.common.settings import KafkaSettings
    from services.common.spec_catalogue import SpecCatalogue
    from services.ingest.metrics import IngestMetrics
    from services.ingest.routing import Ingestor, Origin

    kafka = KafkaSettings()
    topics = kafka.topics
    broker = KafkaBroker(kafka.bootstrap_servers)

    async def send(event: Envelope, body: bytes, topic: str, key: bytes | None) -> None:
        await broker.publish(body, topic, key=key)  # awaited: the broker's ack per message

    catalogue = SpecCatalogue(HOUSE_PRICES)
    ingestor = Ingestor(catalogue, topics, send, IngestMetrics(CollectorRegistry()))
    done = asyncio.Event()
    handled = 0

    async def raw_body(message: Any) -> bytes:  # the bytes, like ingest: Ingestor decodes
        return bytes(message.body)

    @broker.subscriber(
        topics.raw,
        group_id=f"{kafka.topic_prefix}baseline",
        auto_offset_reset="earliest",
        decoder=raw_body,
    )
    async def on_raw(body: bytes) -> None:
        nonlocal handled
        await ingestor.ingest(body, Origin(source=topics.raw))
        handled += 1
        if handled >= count:
            done.set()

    async with broker:
        await broker.start()
        await asyncio.wait_for(done.wait(), timeout=900)


def run_passthrough(bootstrap: str, prefix: str, count: int, logs: Path) -> None:
    """The raw pass-through in its own process, until it has republished `count` records."""
    command = [sys.executable, __file__, "--passthrough-worker", str(count)]
    with (logs / f"{prefix}passthrough.log").open("wb") as log:
        subprocess.run(
            command, env=_env(bootstrap, prefix), stdout=log, stderr=log, check=True, timeout=900
        )


async def passthrough_worker(count: int) -> None:
    """Consume raw records in ingest's batches, republish their bytes to the records topic,
    await the acks, commit: what the Kafka client does for ingest, without ingest's work."""
    from aiokafka import AIOKafkaProducer

    from services.common.serve import freeze_startup_objects, tune_gc
    from services.common.settings import KafkaSettings
    from services.ingest.config import Settings

    settings, kafka = Settings(), KafkaSettings()
    consumer = AIOKafkaConsumer(
        kafka.topics.raw,
        bootstrap_servers=kafka.bootstrap_servers,
        group_id=f"{kafka.topic_prefix}passthrough",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=kafka.fetch_max_wait_ms,
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka.bootstrap_servers,
        max_batch_size=kafka.producer_batch_bytes,
        max_request_size=kafka.producer_request_bytes,
    )
    await consumer.start()
    await producer.start()
    tune_gc()  # as the services run
    freeze_startup_objects()
    done = 0
    try:
        while done < count:
            batches = await consumer.getmany(
                timeout_ms=settings.batch_timeout_ms, max_records=settings.batch_max_records
            )
            messages = [m for batch in batches.values() for m in batch]
            sends = [
                await producer.send(kafka.topics.records, m.value, key=m.key) for m in messages
            ]
            await asyncio.gather(*sends)
            if messages:
                await consumer.commit()
            done += len(messages)
    finally:
        await producer.stop()
        await consumer.stop()


def planning_cpu(count: int) -> float:
    """µs of CPU per record for ingest's own work, without Kafka: the Ingestor over `count`
    records in ingest's batches, each event acknowledged at once. What (a) adds to (c)."""
    from prometheus_client import CollectorRegistry

    from services.common.spec_catalogue import SpecCatalogue
    from services.ingest.config import Settings
    from services.ingest.metrics import IngestMetrics
    from services.ingest.routing import Ingestor, Message, Origin

    async def acknowledged(event: Envelope, body: bytes, topic: str, key: bytes | None) -> None:
        return None

    size = Settings().batch_max_records
    raws = [json.dumps(record).encode() for record in records(count)]
    messages = [Message(raw, Origin("raw", 0, offset)) for offset, raw in enumerate(raws)]
    metrics = IngestMetrics(CollectorRegistry())
    catalogue = SpecCatalogue(HOUSE_PRICES)
    ingestor = Ingestor(catalogue, Topics.with_prefix("plan."), acknowledged, metrics)

    async def plan_all() -> None:
        for start in range(0, count, size):
            await ingestor.ingest_batch(messages[start : start + size])

    started = time.process_time()
    asyncio.run(plan_all())
    return (time.process_time() - started) / count * 1e6


CONTENDERS = {"ingest": run_ingest, "baseline": run_baseline, "passthrough": run_passthrough}
# The per-message baseline handles a fifth of the records: at a few hundred records/s the whole
# count would take most of the bench's time.
SHARE = {"ingest": 1, "baseline": 5, "passthrough": 1}


def measure(kind: str, bootstrap: str, count: int, logs: Path) -> float:
    count //= SHARE[kind]
    prefix = f"bench{uuid.uuid4().hex[:8]}."
    topics = Topics.with_prefix(prefix)
    asyncio.run(ensure_topics(bootstrap, topics.all()))
    asyncio.run(publish_all(bootstrap, topics.raw, records(count), key=lambda r: r["record_id"]))
    CONTENDERS[kind](bootstrap, prefix, count, logs)
    outputs, seconds = asyncio.run(output_span(bootstrap, topics))
    if outputs != count:
        raise RuntimeError(f"{kind}: {outputs} outputs for {count} records")
    return outputs / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true", help="50,000 records, 5 runs each")
    parser.add_argument("--broker", choices=("tansu", "kafka"), default="kafka")
    parser.add_argument("--json", type=Path, help="also write the figures here (make bench)")
    parser.add_argument("--baseline-worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--passthrough-worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline_worker:
        asyncio.run(baseline_worker(args.baseline_worker))
        return
    if args.passthrough_worker:
        asyncio.run(passthrough_worker(args.passthrough_worker))
        return
    count, runs = (50_000, 5) if args.full else (10_000, 3)
    rates: dict[str, list[float]] = {kind: [] for kind in CONTENDERS}
    with tempfile.TemporaryDirectory(prefix="mlbus-bench-ingest-") as tmp:
        logs = Path(tmp)
        with start_broker(args.broker, logs / "broker") as broker:
            bootstrap = broker.bootstrap_servers
            for run in range(runs):
                for kind in rates:  # interleaved, so that machine noise hits all alike
                    rates[kind].append(measure(kind, bootstrap, count, logs))
                    print(
                        f"  run {run + 1} {kind:<11} {rates[kind][-1]:>10,.0f} records/s",
                        flush=True,
                    )
    planning = [planning_cpu(count) for _ in range(runs)]
    print_table(rates, statistics.median(planning), count, args.broker)
    if args.json:
        figures = {"count": count, "broker": args.broker, "rates": rates, "planning": planning}
        args.json.write_text(json.dumps(figures))


def print_table(rates: dict[str, list[float]], planning: float, count: int, broker: str) -> None:
    ingest, baseline, ceiling = (
        statistics.median(rates[k]) for k in ("ingest", "baseline", "passthrough")
    )
    print(f"{count:,} records ({broker}), median of {len(rates['ingest'])} runs:")
    print(f"  (a) mlbus ingest (batches)         {ingest:>10,.0f} records/s")
    print(f"  (b) per-message faststream handler {baseline:>10,.0f} records/s")
    print(f"  (c) raw aiokafka pass-through      {ceiling:>10,.0f} records/s")
    print(f"  (a)/(c) = {ingest / ceiling:.2f}   (goal >= 0.7)")
    print(f"  (a)/(b) = {ingest / baseline:.1f}   (goal >= 10)")
    print(
        f"  (a)'s own work without Kafka (decode, validate, normalise, events): {planning:.1f} µs"
    )
    print("  of CPU per record (median), which (a) spends on top of what (c) spends")


if __name__ == "__main__":
    main()
