"""`make bench`: run the bench scripts, then write one Markdown report and a PNG chart per bench.

    .venv/bin/python -m bench.report                      # every bench, quick sizes
    .venv/bin/python -m bench.report --full               # the issues' sizes
    .venv/bin/python -m bench.report --only ingest predictor_peers --out docs

Each script runs in a process of its own and prints its own table, which the report keeps as it
was printed. The scripts that write their figures as JSON (--json) also get rows in the summary
(figure, baseline, ratio, goal, met or not) and a chart. The report says what the machine was:
its CPU, cores, memory and load average before and after each bench, since a bench on a shared
machine measures the machine as much as the code; ratios are same-run, which is what the goals
are about.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
# The order they run in; scripts of bench/ not listed here run after them.
ORDER = ["predictor_peers", "ingest", "predictor", "hotswap", "monitor", "train", "idle"]
NOT_BENCHES = {"report"}


@dataclass(frozen=True)
class Row:
    """One line of the summary: a figure against its baseline and the goal it is judged by."""

    bench: str
    what: str
    figure: str
    baseline: str
    ratio: str
    goal: str
    met: bool | None  # None: a figure for context, with no goal of its own


LOAD_SAMPLE_SECONDS = 5


@dataclass(frozen=True)
class Load:
    """What the machine was doing: load averages before and after a bench, and the 1-minute
    load average sampled while it ran (every LOAD_SAMPLE_SECONDS)."""

    before: tuple[float, float, float]
    during: list[float]
    after: tuple[float, float, float]

    def describe(self) -> str:
        triple = "{:.2f}, {:.2f}, {:.2f}"
        return (
            f"load average (1, 5, 15 min) before {triple.format(*self.before)}, after"
            f" {triple.format(*self.after)}; 1-minute load while it ran (every"
            f" {LOAD_SAMPLE_SECONDS} s): median {median(self.during):.1f}, min"
            f" {min(self.during):.1f}, max {max(self.during):.1f}, on {os.cpu_count()} cores"
        )


@dataclass
class Ran:
    """One bench as it ran: its printed table, its time, the load around it, its figures."""

    name: str
    output: str
    seconds: float
    load: Load
    returncode: int
    figures: dict[str, Any] | None


def scripts(only: list[str] | None) -> list[str]:
    found = sorted(p.stem for p in BENCH.glob("*.py") if p.stem not in NOT_BENCHES)
    ordered = [name for name in ORDER if name in found] + [n for n in found if n not in ORDER]
    return [name for name in ordered if not only or name in only]


def run_one(name: str, full: bool, workdir: Path) -> Ran:
    figures_path = workdir / f"{name}.json"
    # As a module from the root: the scripts import contracts, mlbus and services from there.
    command = [sys.executable, "-m", f"bench.{name}", *(["--full"] if full else [])]
    if "--json" in (BENCH / f"{name}.py").read_text():
        command += ["--json", str(figures_path)]
    print(f"== {name}: {' '.join(command[1:])}", flush=True)
    load_before, started = os.getloadavg(), time.monotonic()
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    stdout, stderr, load_during = _wait_sampling_load(process)
    output = stdout + (f"\n(stderr, last lines)\n{_tail(stderr)}" if process.returncode else "")
    print(stdout, flush=True)
    figures = json.loads(figures_path.read_text()) if figures_path.exists() else None
    seconds = time.monotonic() - started
    load = Load(load_before, load_during, os.getloadavg())
    return Ran(name, output, seconds, load, process.returncode, figures)


def _wait_sampling_load(process: subprocess.Popen[str]) -> tuple[str, str, list[float]]:
    """The process's output once it ends, and the 1-minute load average every 5 s till then."""
    samples = [os.getloadavg()[0]]
    while True:
        try:
            stdout, stderr = process.communicate(timeout=LOAD_SAMPLE_SECONDS)
            return stdout, stderr, samples
        except subprocess.TimeoutExpired:
            samples.append(os.getloadavg()[0])


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.splitlines()[-lines:])


# --- summary rows and charts per bench ---------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def peers_rows(figures: dict[str, Any]) -> list[Row]:
    rates = {kind: median(values) for kind, values in figures["rates"].items()}
    p99 = {kind: median(values) for kind, values in figures["p99"].items()}
    cpu = {kind: median(values) for kind, values in figures["cpu"].items()}
    quix, raw, mlbus = rates["quix"], rates["raw"], rates["predictor"]
    name = "predictor_peers"
    return [
        Row(
            name,
            "mlbus predictor vs Quix Streams app (outputs/s)",
            f"{mlbus:,.0f}",
            f"{quix:,.0f}",
            f"{mlbus / quix:.2f}x",
            ">= 3x",
            mlbus / quix >= 3,
        ),
        Row(
            name,
            "mlbus predictor vs raw confluent-kafka loop (outputs/s)",
            f"{mlbus:,.0f}",
            f"{raw:,.0f}",
            f"{mlbus / raw:.2f}x",
            ">= 1.0x",
            mlbus / raw >= 1.0,
        ),
        Row(
            name,
            "p99 latency at 1,000 events/s, mlbus vs raw loop (ms)",
            f"{p99['predictor']:.1f}",
            f"{p99['raw']:.1f}",
            f"{p99['predictor'] - p99['raw']:+.1f} ms",
            "<= +5 ms",
            p99["predictor"] - p99["raw"] <= 5,
        ),
        Row(
            name,
            "p99 latency at 1,000 events/s, mlbus (ms; issue 14)",
            f"{p99['predictor']:.1f}",
            "-",
            "-",
            "<= 10 ms",
            p99["predictor"] <= 10,
        ),
        Row(
            name,
            "CPU per output, mlbus vs raw loop (µs, the contender's process)",
            f"{cpu['predictor']:.1f}",
            f"{cpu['raw']:.1f}",
            f"{cpu['predictor'] / cpu['raw']:.2f}x",
            "(context)",
            None,
        ),
    ]


def ingest_rows(figures: dict[str, Any]) -> list[Row]:
    rates = {kind: median(values) for kind, values in figures["rates"].items()}
    ingest, ceiling, baseline = rates["ingest"], rates["passthrough"], rates["baseline"]
    return [
        Row(
            "ingest",
            "ingest vs raw aiokafka pass-through (records/s)",
            f"{ingest:,.0f}",
            f"{ceiling:,.0f}",
            f"{ingest / ceiling:.2f}x",
            ">= 0.7x",
            ingest / ceiling >= 0.7,
        ),
        Row(
            "ingest",
            "ingest vs per-message faststream handler (records/s)",
            f"{ingest:,.0f}",
            f"{baseline:,.0f}",
            f"{ingest / baseline:.1f}x",
            ">= 10x",
            ingest / baseline >= 10,
        ),
        Row(
            "ingest",
            "ingest's own work without Kafka, on top of the pass-through (µs CPU per record)",
            f"{median(figures['planning']):.1f}",
            "-",
            "-",
            "(context)",
            None,
        ),
    ]


# bench/monitor.py's paths, by the names it prints.
MONITOR_PATH = "processor (dedupe+metrics)"
MONITOR_WINDOWS = "incremental (DriftWindows)"
MONITOR_RECOMPUTE = "raw rows, recompute per window"


LABELS = {
    "quix": "Quix Streams\n(per message)",
    "raw": "raw confluent-kafka\n(batched)",
    "predictor": "mlbus predictor",
    "ingest": "mlbus ingest",
    "baseline": "per-message\nfaststream handler",
    "passthrough": "raw aiokafka\npass-through",
    MONITOR_PATH: "processor\n(dedupe, windows,\nmetrics)",
    MONITOR_WINDOWS: "incremental\nwindows",
    MONITOR_RECOMPUTE: "raw rows,\nrecompute\nper window",
    "raw rows, recompute per batch": "raw rows,\nrecompute\nper batch",
    "raw rows, PSI only (skeleton)": "raw rows,\nPSI only",
}


def bar_chart(path: Path, title: str, unit: str, runs: dict[str, list[float]]) -> None:
    """Median per contender as a bar, every run as a dot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 3.6), dpi=110)
    names = [name for name in runs if runs[name]]  # a contender may sit a measure out
    axes.bar(range(len(names)), [median(runs[n]) for n in names], color="#4c78a8")
    for index, name in enumerate(names):
        axes.scatter([index] * len(runs[name]), runs[name], color="black", s=10, zorder=3)
        value = median(runs[name])
        axes.annotate(
            f"{value:,.0f}" if value >= 100 else f"{value:.1f}",
            (index, value),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    axes.set_xticks(range(len(names)), [LABELS.get(n, n) for n in names], fontsize=8)
    axes.set_ylabel(unit)
    axes.set_title(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def peers_chart(figures: dict[str, Any], out: Path) -> list[Path]:
    rates = out / "bench-predictor-peers.png"
    bar_chart(
        rates,
        "Same ONNX model, same messages (median of runs; dots: runs)",
        "outputs/s",
        figures["rates"],
    )
    latency = out / "bench-predictor-peers-p99.png"
    bar_chart(latency, "p99 latency at 1,000 events/s (median of runs)", "ms", figures["p99"])
    return [rates, latency]


def ingest_chart(figures: dict[str, Any], out: Path) -> list[Path]:
    path = out / "bench-ingest.png"
    bar_chart(
        path,
        "Records validated, normalised and routed (median of runs; dots: runs)",
        "records/s",
        figures["rates"],
    )
    return [path]


def monitor_rows(figures: dict[str, Any]) -> list[Row]:
    cpu = {name: path["cpu"] for name, path in figures["paths"].items()}
    whole, windows, recompute = cpu[MONITOR_PATH], cpu[MONITOR_WINDOWS], cpu[MONITOR_RECOMPUTE]
    return [
        Row(
            "monitor",
            "monitor's path: dedupe, windows, metrics; no label join yet (µs CPU per event)",
            f"{whole:.2f}",
            "-",
            "-",
            "<= 5 µs",
            whole <= 5,
        ),
        Row(
            "monitor",
            "incremental windows vs recomputing each window from raw rows (µs CPU per event)",
            f"{windows:.2f}",
            f"{recompute:.2f}",
            f"{windows / recompute:.2f}x",
            "(context)",
            None,
        ),
    ]


def monitor_chart(figures: dict[str, Any], out: Path) -> list[Path]:
    path = out / "bench-monitor.png"
    cpu = {name: [figures["paths"][name]["cpu"]] for name in figures["paths"]}
    bar_chart(path, "Monitor: CPU per event by path (median of repeats)", "µs CPU/event", cpu)
    return [path]


SUMMARIES: dict[str, tuple[Callable[[dict[str, Any]], list[Row]], Callable[..., list[Path]]]] = {
    "predictor_peers": (peers_rows, peers_chart),
    "ingest": (ingest_rows, ingest_chart),
    "monitor": (monitor_rows, monitor_chart),
}


# --- the report ------------------------------------------------------------------------------


def machine() -> list[str]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in _read("/proc/cpuinfo").splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown CPU",
    )
    memory = next(
        (
            line.split(":", 1)[1].strip()
            for line in _read("/proc/meminfo").splitlines()
            if line.startswith("MemTotal")
        ),
        "unknown",
    )
    kafka = sorted(p.name for p in (Path.home() / ".cache" / "mlbus").glob("kafka-*"))
    return [
        f"- CPU: {cpu}, {os.cpu_count()} logical cores; memory {memory}",
        f"- OS: {platform.platform()}; Python {platform.python_version()}",
        f"- Apache Kafka: {', '.join(kafka) or 'not cached'} (Maven Central jars, KRaft, one"
        " broker started by the bench on this machine, loopback)",
    ]


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def write_report(ran: list[Ran], out: Path, full: bool, note: str | None = None) -> Path:
    charts = {
        bench.name: SUMMARIES[bench.name][1](bench.figures, out)
        for bench in ran
        if bench.figures is not None and bench.name in SUMMARIES
    }
    lines = [
        "# mlbus bench report",
        "",
        f"Written by `make bench` ({'--full' if full else 'quick sizes'}) on"
        f" {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.",
        "",
        "## Machine and broker",
        "",
        *machine(),
        "- What the machine was doing: the load average before, during and after each bench"
        " (the `load` column: the median of the 1-minute load average while the bench ran). On a"
        " shared machine the absolute figures move with the load; the ratios are from the same"
        " run, contenders interleaved, so the load hits them alike.",
        *([f"- Also on the machine: {note}"] if note else []),
        "",
        *summary(ran),
    ]
    for bench in ran:
        lines += section(bench, charts.get(bench.name, []), out)
    path = out / "bench-report.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def summary(ran: list[Ran]) -> list[str]:
    """The table of figures against their goals, for the benches that wrote their figures."""
    lines = [
        "## Summary",
        "",
        "| bench | what | figure | baseline | ratio | goal | met | load |",
        "|---|---|---:|---:|---:|---|---|---:|",
    ]
    for bench in ran:
        if bench.figures is None or bench.name not in SUMMARIES:
            continue
        for r in SUMMARIES[bench.name][0](bench.figures):
            met = "-" if r.met is None else "yes" if r.met else "**no**"
            lines.append(
                f"| {r.bench} | {r.what} | {r.figure} | {r.baseline} | {r.ratio} | {r.goal} |"
                f" {met} | {median(bench.load.during):.1f} |"
            )
    others = [b.name for b in ran if b.figures is None or b.name not in SUMMARIES]
    if others:
        lines += ["", f"Printed tables only (no figures as JSON yet): {', '.join(others)}."]
    return [*lines, ""]


def section(bench: Ran, charts: list[Path], out: Path) -> list[str]:
    status = "" if bench.returncode == 0 else f" (**failed**, exit {bench.returncode})"
    return [
        f"## {bench.name}{status}",
        "",
        f"`bench/{bench.name}.py`, {bench.seconds:.0f} s; {bench.load.describe()}.",
        "",
        *(f"![{c.stem}]({c.relative_to(out)})" for c in charts),
        "",
        "```",
        bench.output.rstrip(),
        "```",
        "",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the issues' sizes")
    parser.add_argument("--only", nargs="+", help="these benches (script names without .py)")
    parser.add_argument("--note", help="what else the machine was doing, in words, for the report")
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench", help="report folder")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mlbus-bench-report-") as tmp:
        ran = [run_one(name, args.full, Path(tmp)) for name in scripts(args.only)]
    path = write_report(ran, args.out, args.full, args.note)
    print(f"report: {path}")
    if any(bench.returncode for bench in ran):
        raise SystemExit("some benches failed; see the report")


if __name__ == "__main__":
    main()
