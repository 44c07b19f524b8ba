"""Drift accounting of the monitor: µs per event, incremental vs whole-window recomputation.

    .venv/bin/python -m bench.monitor          # quick: 20,000 events, windows of 1,000
    .venv/bin/python -m bench.monitor --full   # 200,000 events

Measured in one run on the same pre-generated events (generation and JSON parsing excluded):
- incremental: what the monitor does, DriftWindows.add per event plus one vectorised
  evaluate per consumer batch (bin counts, then PSI, JS, KS / chi-squared, BH at each
  window boundary);
- processor: the same through PredictionProcessor.process (dedupe by event id, Prometheus
  counters and gauges), from PredictionMade objects;
- raw rows, recompute per window: keep the window's rows, compute the same statistics from
  all of them at the window's end (memory grows with the window);
- raw rows, recompute per batch: the same at every batch, which a live view from raw rows
  (the partial-window gauges) needs;
- raw rows, PSI only: the walking skeleton's drift.py, PSI alone, once per window.
Memory: tracemalloc peak of the incremental path for 1x and 5x the events (flat = same).
Medians of several runs; the host may be shared and noisy, so compare the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
import tracemalloc
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from prometheus_client import CollectorRegistry

from contracts import NumericReference, PredictionMade
from mlbus.datagen import RecordGenerator
from services.monitor.accumulate import Baseline, DriftRule, WindowCounts, window_statistics
from services.monitor.metrics import MonitorMetrics
from services.monitor.processor import PredictionProcessor
from services.monitor.stats import warm_up
from services.monitor.windows import DriftWindows, Observation, WindowPolicy, columns
from tests.e2e.monitor_support import model_version
from tests.support.drift_oracle import numeric_psi, window_psi

if TYPE_CHECKING:
    from collections.abc import Callable

KEY = ("house-prices", 1)
WINDOW = 1000
BATCH = 100  # a consumer batch under moderate traffic


def _events(count: int) -> list[PredictionMade]:
    rows = RecordGenerator(seed=5, drift={"area": 0.1}).records(count)
    return [
        PredictionMade(
            record_id=r["record_id"],
            request_event_id=uuid4(),
            model_name=KEY[0],
            model_version=KEY[1],
            prediction=r["price"],
            features={k: v for k, v in r.items() if k not in ("record_id", "price")},
        )
        for r in rows
    ]


def incremental(observations: list[Observation], baseline: Baseline) -> int:
    windows = DriftWindows(WindowPolicy(window_size=WINDOW, min_window=WINDOW))
    reports = 0
    for start in range(0, len(observations), BATCH):
        for o in observations[start : start + BATCH]:
            windows.add(KEY, o)
        reports += len(windows.evaluate(KEY, baseline))
    return reports


def through_processor(events: list[PredictionMade], baseline: Baseline) -> int:
    class Fixed:
        async def get(self, model_name: str, version: int) -> Baseline:
            return baseline

    async def publish(_: Any) -> None:
        return None

    processor = PredictionProcessor(
        DriftWindows(WindowPolicy(window_size=WINDOW, min_window=WINDOW)),
        Fixed(),
        MonitorMetrics(CollectorRegistry()),
        publish,
        dedupe_capacity=10_000,
    )

    async def run() -> None:
        for start in range(0, len(events), BATCH):
            await processor.process(events[start : start + BATCH])

    asyncio.run(run())
    state = processor.windows.state(KEY)
    return state.complete_windows if state else 0


def recompute(observations: list[Observation], baseline: Baseline, *, every_batch: bool) -> int:
    """Keep the window's raw rows; count and test them all from scratch (same statistics)."""
    rows: list[Observation] = []
    evaluations = 0
    for start in range(0, len(observations), BATCH):
        rows.extend(observations[start : start + BATCH])
        if every_batch or len(rows) >= WINDOW:
            counts = WindowCounts.for_reference(baseline.reference)
            counts.add_batch(columns(rows, counts.bins), len(rows))
            window_statistics(counts, baseline.size, DriftRule())
            evaluations += 1
        if len(rows) >= WINDOW:
            rows = []
    return evaluations


def psi_only(observations: list[Observation], baseline: Baseline) -> int:
    """The walking skeleton's way: PSI only, from raw rows, once per window (drift.py)."""
    reference = baseline.reference
    evaluations = 0
    for start in range(0, len(observations), WINDOW):
        rows = observations[start : start + WINDOW]
        window_psi([o.features for o in rows], reference)
        assert isinstance(reference.prediction, NumericReference)
        numeric_psi((float(o.prediction) for o in rows), reference.prediction)
        evaluations += 1
    return evaluations


def median_us(run: Callable[[], object], events: int, repeats: int) -> tuple[float, float]:
    """Median wall and CPU µs per event (CPU time is steadier on a shared, busy host)."""
    wall, cpu = [], []
    for _ in range(repeats):
        started, started_cpu = time.perf_counter(), time.process_time()
        run()
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    return statistics.median(wall) / events * 1e6, statistics.median(cpu) / events * 1e6


def peak_kib(run: Callable[[], object]) -> float:
    tracemalloc.start()
    run()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="200,000 events instead of 20,000")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the figures here (make bench)")
    args = parser.parse_args()
    count = 200_000 if args.full else 20_000

    version = model_version(1)
    baseline = Baseline(version.card.reference, version.card.snapshot_size)
    warm_up()
    print(f"generating {count:,} events (windows of {WINDOW}, batches of {BATCH}) ...")
    events = _events(count)
    observations = [Observation.of(e) for e in events]

    results = {
        "incremental (DriftWindows)": median_us(
            lambda: incremental(observations, baseline), count, args.repeats
        ),
        "processor (dedupe+metrics)": median_us(
            lambda: through_processor(events, baseline), count, args.repeats
        ),
        "raw rows, recompute per window": median_us(
            lambda: recompute(observations, baseline, every_batch=False), count, args.repeats
        ),
        "raw rows, recompute per batch": median_us(
            lambda: recompute(observations, baseline, every_batch=True), count, args.repeats
        ),
        "raw rows, PSI only (skeleton)": median_us(
            lambda: psi_only(observations, baseline), count, args.repeats
        ),
    }
    _, base = results["incremental (DriftWindows)"]
    print(f"\n{'path':32} {'wall µs/ev':>10} {'cpu µs/ev':>10} {'x incremental (cpu)':>20}")
    for name, (wall, cpu) in results.items():
        print(f"{name:32} {wall:10.2f} {cpu:10.2f} {cpu / base:20.2f}")

    small = observations[: count // 5]
    memory_small = peak_kib(lambda: incremental(small, baseline))
    memory_large = peak_kib(lambda: incremental(observations, baseline))
    print(
        f"\nincremental peak memory: {memory_small:,.0f} KiB for {len(small):,} events, "
        f"{memory_large:,.0f} KiB for {count:,} events (ratio {memory_large / memory_small:.2f})"
    )
    goal = "meets" if base <= 5.0 else "misses"
    print(f"goal <= 5 µs/event for drift accounting: {goal} ({base:.2f} µs CPU)")
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} ({os.cpu_count()} CPUs)")
    if args.json:
        paths = {name: {"wall": wall, "cpu": cpu} for name, (wall, cpu) in results.items()}
        args.json.write_text(json.dumps({"count": count, "paths": paths}))


if __name__ == "__main__":
    main()
