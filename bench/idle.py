"""CPU of an idle stack: the five services and the broker with nothing published.

    .venv/bin/python -m bench.idle                  # the default broker, 3 runs of 60 s
    .venv/bin/python -m bench.idle --broker tansu   # the fallback broker

Starts the broker `mlbus up` would (Apache Kafka where Java 17+ runs, else tansu; or
--broker), and the five services on it as `mlbus up` runs them (free ports, the broker's client
settings), waits for them to settle, then reads each process's CPU time (user + system, with
its children) from /proc at the start and end of each measuring window. Prints the services'
and, separately, the broker's CPU as % of one core, per run and as medians (the machine is
shared: other load does not add to these processes' CPU time, but it does add noise).
Goal (issue 14): the five services together under 3% of one core.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from mlbus.brokers import Broker, BrokerKind, start_broker
from mlbus.brokers.choice import default_broker_kind
from mlbus.runner import SERVICES, Stack, StackConfig

if TYPE_CHECKING:
    from collections.abc import Callable

GOAL_PERCENT = 3.0
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of `pid` and its waited-for children so far, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # Fields 14-17 of stat (utime, stime, cutime, cstime) are 11-14 after the command name.
    return sum(int(value) for value in fields[11:15]) / TICKS


def percent_of_core(pids: dict[str, int], seconds: float) -> dict[str, float]:
    """Each process's CPU over the next `seconds`, as % of one core."""
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    began = time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - began
    return {name: 100 * (cpu_seconds(pid) - before[name]) / elapsed for name, pid in pids.items()}


def run_idle(
    broker: Broker, workdir: Path, settle: float, seconds: float, runs: int
) -> list[dict[str, float]]:
    config = StackConfig.with_free_ports(
        broker.bootstrap_servers, workdir, topic_prefix="idle.", extra_env=broker.client_env()
    )
    broker_pid = broker.process.pid  # type: ignore[attr-defined]
    with Stack(config) as stack:
        stack.wait_ready(timeout=180)
        print(f"services ready; settling {settle:.0f} s", flush=True)
        time.sleep(settle)
        pids = {name: stack.processes[name].pid for name in SERVICES} | {"broker": broker_pid}
        results = []
        for run in range(1, runs + 1):
            shares = percent_of_core(pids, seconds)
            stack.check_alive()
            results.append(shares)
            report(f"run {run}", shares, print)
    return results


def report(label: str, shares: dict[str, float], say: Callable[[str], None]) -> None:
    services = sum(shares[name] for name in SERVICES)
    each = ", ".join(f"{name} {shares[name]:.2f}" for name in SERVICES)
    say(f"  {label}: services {services:.2f}% ({each}); broker {shares['broker']:.2f}%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", choices=("tansu", "kafka"), help="default: what mlbus up runs")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each window")
    parser.add_argument("--settle", type=float, default=20.0, help="wait after ready")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    kind: BrokerKind = args.broker or default_broker_kind()
    with tempfile.TemporaryDirectory(prefix="bench-idle-") as tmp:
        workdir = Path(tmp)
        with start_broker(kind, workdir / "broker") as broker:
            print(f"{kind} broker at {broker.bootstrap_servers}", flush=True)
            results = run_idle(broker, workdir, args.settle, args.seconds, args.runs)
    medians = {name: statistics.median(r[name] for r in results) for name in results[0]}
    print(f"idle, % of one core over {args.seconds:.0f} s, median of {args.runs} on {kind}:")
    report("median", medians, print)
    services = sum(medians[name] for name in SERVICES)
    verdict = "met" if services < GOAL_PERCENT else "NOT met"
    print(f"goal: five services < {GOAL_PERCENT:.0f}% of one core: {verdict} ({services:.2f}%)")


if __name__ == "__main__":
    main()
