"""Predictor scale-out: predictions/s with 1 and 2 (and 4) processes in one consumer group, and
the pause in results when a predictor joins or leaves the group under load.

    .venv/bin/python bench/scaleout.py          # quick: 1 and 2 predictors, 2 runs; 1 pause run
    .venv/bin/python bench/scaleout.py --full   # 1, 2 and 4 predictors, 5 runs; 3 pause runs

On Apache Kafka (one node, the jars `mlbus up` uses; Java 17+), a real registry, topics of four
partitions (the project's default); every predictor is `python -m services.predictor` with
the same settings, so one consumer group.
(a) Throughput: the requests are queued first, then n predictors start at once on them. The
    broker holds a new group's first rebalance until no member has joined for 3 s (Kafka's
    default group.initial.rebalance.delay.ms; mlbus's own broker sets 0), so all n share the
    backlog from the first record on: a sender racing the group would measure the sender.
    The rate is the results over the span of their broker timestamps; each member's share
    (its /metrics) shows the group split the work. Over that span, the cores used by the
    predictors, the broker, this script (the reader) and the whole machine: on two cores,
    that says whether the machine rather than the group is the limit, and whether other load
    shared it. Predictions per predictor CPU second do not depend on that other load; their
    ratio n/1 is what splitting the work costs. Ratios are same-run.
(b) Rebalance pauses under a paced stream (--rate, 1,000 requests/s): two predictors serve it,
    a third joins, one leaves (SIGTERM: it leaves the group at once), and one is killed (-9:
    the group waits out its session timeout). A request's wait is from its send to its
    result's timestamp; the pause of an event is the longest wait of the requests sent from
    the event until the group is Stable again plus 3 s (the next event comes 5 s later), against
    the p99 wait of the steady stretch before the first event (the same-run baseline).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from bench.predictor import (  # same model, requests, processes
    Bench,
    CpuSampler,
    fit_pipeline,
    onnx_and_card,
    percentile,
    process,
    rate,
    read_timestamps,
    requests,
    send,
    upload,
)
from contracts import Topics
from mlbus.brokers import ApacheKafkaBroker
from mlbus.brokers.process import free_port
from tests.support.kafka_groups import group_state

if TYPE_CHECKING:
    from collections.abc import Iterator
    from subprocess import Popen

SETTLE_SECONDS = 3.0  # after a rebalance, the requests that still count towards its pause
# Before the next event: the last requests of this one's window are answered first, so a
# request sent at the end of one window is not held up by the next event and charged to this.
QUIET_SECONDS = 5.0
JOIN_WINDOW_MS = 3000  # Kafka's default group.initial.rebalance.delay.ms


# --- the group --------------------------------------------------------------------------------


def group_id(topics: Topics) -> str:
    """The predictor's consumer group (services.predictor.handlers): per topic prefix."""
    return topics.predict_requests.removesuffix("predict.requests.v1") + "mlbus-predictor"


async def wait_stable(bootstrap: str, group: str, members: int, timeout: float = 180) -> float:
    """Seconds until the group is Stable with `members` members."""
    started = time.monotonic()
    while (found := await group_state(bootstrap, group)) != ("Stable", members):
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"group {group}: {found} after {timeout:.0f}s, wanted {members}")
        await asyncio.sleep(0.1)
    return time.monotonic() - started


@dataclass
class Member:
    child: Popen[bytes]
    port: int

    def predictions(self) -> float:
        """Predictions this process has published (its mlbus_predictor_predictions_total)."""
        text = httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=10).text
        return sum(
            sample.value
            for family in text_string_to_metric_families(text)
            if family.name == "mlbus_predictor_predictions"
            for sample in family.samples
            if sample.name.endswith("_total")
        )


@contextmanager
def predictor(bench: Bench, topics: Topics, name: str) -> Iterator[Member]:
    """One more predictor process in the group, on an HTTP port of its own."""
    port = free_port()
    env = bench.predictor_env(topics, {"MLBUS_PREDICTOR_PORT": str(port)})
    args = [sys.executable, "-m", "services.predictor"]
    with process(args, bench.workdir / f"{name}.log", env) as child:
        yield Member(child, port)


async def warm_up(bench: Bench, topics: Topics) -> None:
    """A few requests on every partition, answered: each member has its model warm."""
    payloads = requests("warm", 200)
    await send(bench.bootstrap, topics.predict_requests, payloads)
    await read_timestamps(bench.bootstrap, topics.predict_results, 200, timeout=120, prefix="warm")


# --- (a) throughput ---------------------------------------------------------------------------


@dataclass
class Throughput:
    per_second: float
    shares: list[float]  # each member's fraction of the predictions
    cores: dict[str, float]  # over the span: predictors, broker, bench, machine

    @property
    def per_predictor_core(self) -> float:
        """Predictions per CPU second of the predictors: what other load does not change."""
        return self.per_second / max(self.cores["predictors"], 1e-9)

    @property
    def others(self) -> float:
        """Cores busy with processes other than the predictors, the broker and this one."""
        ours = self.cores["predictors"] + self.cores["broker"] + self.cores["bench"]
        return max(self.cores["machine"] - ours, 0.0)


def throughput(bench: Bench, broker_pid: int, members: int, backlog: list[bytes]) -> Throughput:
    """n predictors started at once on `backlog` queued requests: the group's drain rate."""
    topics = bench.fresh_topics(f"n{members}-")
    asyncio.run(send(bench.bootstrap, topics.predict_requests, backlog))
    with ExitStack() as running:
        group = [
            running.enter_context(predictor(bench, topics, f"throughput-{members}-{i}"))
            for i in range(members)
        ]
        samplers: dict[str, list[CpuSampler]] = {
            "predictors": [CpuSampler(m.child.pid, every=0.05) for m in group],
            "broker": [CpuSampler(broker_pid, every=0.05)],
            "bench": [CpuSampler(os.getpid(), every=0.05)],
            "machine": [MachineSampler(every=0.05)],
        }
        for sampler in (s for each in samplers.values() for s in each):
            running.enter_context(sampler)
        stamps = asyncio.run(
            read_timestamps(bench.bootstrap, topics.predict_results, len(backlog), timeout=600)
        )
        made = [m.predictions() for m in group]
    first, last = min(stamps.values()) / 1000, max(stamps.values()) / 1000
    span = max(last - first, 1e-3)
    cores = {
        name: sum(s.between(first, last) for s in each) / span for name, each in samplers.items()
    }
    return Throughput(rate(stamps), [n / max(sum(made), 1) for n in made], cores)


class MachineSampler(CpuSampler):
    """CPU time of the whole machine (every process, other users' too), from /proc/stat."""

    def __init__(self, every: float) -> None:
        super().__init__(pid=0, every=every)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.samples.append((time.time(), machine_busy_seconds()))


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy (not idle, not waiting for I/O) since boot."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle, iowait = fields[3], fields[4]
    return (sum(fields[:8]) - idle - iowait) / os.sysconf("SC_CLK_TCK")


# --- (b) rebalance pauses ---------------------------------------------------------------------


@dataclass
class PacedStream:
    """Requests at a steady rate until stopped; record id -> wall time sent (ms)."""

    bootstrap: str
    topic: str
    per_second: int
    sent_at: dict[str, float] = field(default_factory=dict)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, linger_ms=0)
        await producer.start()
        try:
            start, per_slice, index = time.perf_counter(), max(1, self.per_second // 100), 0
            while not self.stopping.is_set():
                if (wait := start + index / self.per_second - time.perf_counter()) > 0:
                    await asyncio.sleep(wait)
                for payload in requests(f"p{index:09d}", per_slice, seed=index):
                    record_id = json.loads(payload)["record_id"]
                    self.sent_at[record_id] = time.time() * 1000
                    await producer.send(self.topic, payload, key=record_id.encode())
                index += per_slice
            await producer.flush()
        finally:
            await producer.stop()


@dataclass
class Event:
    name: str
    began: float  # wall time, ms
    settled: float = 0.0


def pauses(bench: Bench, per_second: int) -> tuple[float, dict[str, float], dict[str, float]]:
    """The steady stretch's p99 wait (ms), each event's longest wait (ms) and the seconds from
    each event until the group was Stable again, one run."""
    topics = bench.fresh_topics("pause-")
    with ExitStack() as running:
        members = [running.enter_context(predictor(bench, topics, f"pause-{i}")) for i in (0, 1)]
        asyncio.run(wait_stable(bench.bootstrap, group_id(topics), 2))
        asyncio.run(warm_up(bench, topics))
        stream = PacedStream(bench.bootstrap, topics.predict_requests, per_second)
        steady_end, events = asyncio.run(_events(bench, topics, stream, members, running))
    results = asyncio.run(
        read_timestamps(
            bench.bootstrap, topics.predict_results, len(stream.sent_at), timeout=120, prefix="p"
        )
    )
    waits = {rid: results[rid] - sent for rid, sent in stream.sent_at.items()}
    steady = [wait for rid, wait in waits.items() if stream.sent_at[rid] < steady_end]
    longest = {
        event.name: max(
            wait
            for rid, wait in waits.items()
            if event.began <= stream.sent_at[rid] <= event.settled + SETTLE_SECONDS * 1000
        )
        for event in events
    }
    stable_after = {event.name: (event.settled - event.began) / 1000 for event in events}
    return percentile(steady, 99), longest, stable_after


async def _events(
    bench: Bench, topics: Topics, stream: PacedStream, members: list[Member], running: ExitStack
) -> tuple[float, list[Event]]:
    group = group_id(topics)
    sending = asyncio.create_task(stream.run())
    await asyncio.sleep(5.0)  # the steady stretch: the baseline
    steady_end, events = time.time() * 1000, []

    events.append(Event("join", time.time() * 1000))
    running.enter_context(predictor(bench, topics, "pause-2"))
    await event_settle(bench, group, events[-1], 3)
    events.append(Event("leave (SIGTERM)", time.time() * 1000))
    members[0].child.terminate()
    await event_settle(bench, group, events[-1], 2)
    events.append(Event("leave (kill -9)", time.time() * 1000))
    members[1].child.kill()
    await event_settle(bench, group, events[-1], 1)
    stream.stopping.set()
    await sending
    return steady_end, events


async def event_settle(bench: Bench, group: str, event: Event, members: int) -> None:
    await wait_stable(bench.bootstrap, group, members)
    event.settled = time.time() * 1000
    await asyncio.sleep(SETTLE_SECONDS + QUIET_SECONDS)


# --- the run ----------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> None:
    # A topic just created has no leader for a moment; the producer retries, warning each time.
    logging.getLogger("aiokafka.producer.sender").setLevel(logging.ERROR)
    sizes = (1, 2, 4) if args.full else (1, 2)
    runs, pause_runs = (5, 3) if args.full else (2, 1)
    with tempfile.TemporaryDirectory(prefix="bench-scaleout-") as tmp:
        workdir = Path(tmp)
        overrides = {"group.initial.rebalance.delay.ms": str(JOIN_WINDOW_MS)}
        with ApacheKafkaBroker(workdir / "broker", overrides=overrides) as broker:
            print(f"broker: Apache Kafka at {broker.bootstrap_servers}; {os.cpu_count()} cores")
            bench = Bench(broker.bootstrap_servers, workdir)
            bench.start_registry(Topics.with_prefix("reg."))
            try:
                upload(bench.registry, *onnx_and_card(fit_pipeline()))
                scale(bench, broker_process_id(broker), sizes, args.requests, runs)
                rebalance(bench, args.rate, pause_runs)
            finally:
                bench.stack.stop()


def broker_process_id(broker: ApacheKafkaBroker) -> int:
    pid = broker.process.pid
    if pid is None:
        raise RuntimeError("the broker is not running")
    return int(pid)


def scale(bench: Bench, broker_pid: int, sizes: tuple[int, ...], count: int, runs: int) -> None:
    print(f"(a) {count:,} queued requests per run, {runs} runs per group size, interleaved")
    backlog = requests("run", count)
    found: dict[int, list[Throughput]] = {n: [] for n in sizes}
    for i in range(runs):
        for members in sizes:
            found[members].append(throughput(bench, broker_pid, members, backlog))
        print(f"  run {i + 1}:")
        for n in sizes:
            print(f"    {n} predictor(s): {describe(found[n][-1])}")
    medians = {n: statistics.median(t.per_second for t in found[n]) for n in sizes}
    per_core = {n: statistics.median(t.per_predictor_core for t in found[n]) for n in sizes}
    for n in sizes:
        cores = {k: statistics.median(t.cores[k] for t in found[n]) for k in found[n][0].cores}
        print(
            f"{n} predictor(s): {medians[n]:>9,.0f} predictions/s (median),"
            f" {per_core[n]:,.0f} per predictor CPU second; cores {cores_text(cores)}"
        )
    ratios = ", ".join(f"{n}/1 = {medians[n] / medians[1]:.2f}" for n in sizes if n > 1)
    print(f"ratios (medians, same run): {ratios}")
    efficiency = ", ".join(f"{n}/1 = {per_core[n] / per_core[1]:.2f}" for n in sizes if n > 1)
    print(f"per predictor CPU second: {efficiency} (1.00: splitting the group costs nothing)")
    print(limit(found, sizes))


def describe(found: Throughput) -> str:
    shares = "/".join(f"{share:.0%}" for share in found.shares)
    return (
        f"{found.per_second:,.0f}/s ({found.per_predictor_core:,.0f} per predictor CPU second),"
        f" shares {shares}; cores {cores_text(found.cores)}"
    )


def cores_text(cores: dict[str, float]) -> str:
    return ", ".join(f"{name} {used:.2f}" for name, used in cores.items())


def limit(found: dict[int, list[Throughput]], sizes: tuple[int, ...]) -> str:
    """What held the largest group back, from the cores busy during its runs."""
    largest = found[sizes[-1]]
    machine = statistics.median(t.cores["machine"] for t in largest)
    others = statistics.median(t.others for t in largest)
    available = os.cpu_count() or 1
    said = (
        f"limit: with {sizes[-1]} predictors the machine was {machine:.2f} of {available} cores"
        f" busy, {others:.2f} of them with other processes than these predictors, the broker and"
        " this reader"
    )
    if machine < available - 0.25:
        return f"{said}: cores were left, so not the cores (the partitions, the broker or I/O)"
    if others > 0.25:
        return (
            f"{said}: the cores, shared with other load, so the rates are these processes' share"
            " of a busy machine (more processes get a larger share) and the per predictor CPU"
            " second figures are the ones to compare"
        )
    return f"{said}: the cores; the predictors, the broker and the producers share them"


def rebalance(bench: Bench, per_second: int, runs: int) -> None:
    print(f"(b) rebalance pauses at {per_second:,} requests/s, {runs} run(s)")
    baselines, longest = [], []
    for i in range(runs):
        baseline, found, stable_after = pauses(bench, per_second)
        baselines.append(baseline)
        longest.append(found)
        shown = ", ".join(f"{name} {ms:,.0f} ms" for name, ms in found.items())
        print(f"  run {i + 1}: steady p99 {baseline:,.0f} ms; longest waits: {shown}")
        stable = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in stable_after.items())
        print(f"    group Stable again after: {stable} (a join: from the process's spawn)")
    base = statistics.median(baselines)
    print(f"steady p99 wait (median): {base:,.0f} ms")
    for name in longest[0]:
        ms = statistics.median(found[name] for found in longest)
        print(
            f"{name}: longest wait {ms:,.0f} ms (median), {ms / max(base, 1):.0f}x the steady p99"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="1, 2 and 4 predictors, more runs")
    parser.add_argument("--requests", type=int, default=100_000, help="queued per throughput run")
    parser.add_argument("--rate", type=int, default=1000, help="requests/s during the pauses")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
