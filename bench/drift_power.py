"""Power of the monitor's drift rule: windows until a shift is caught, and false alarms.

    .venv/bin/python -m bench.drift_power                  # about a minute
    .venv/bin/python -m bench.drift_power --full           # more repetitions, longer streams
    .venv/bin/python -m bench.drift_power --reference 800  # a smaller training set

A synthetic data set of numeric (normal and lognormal, coefficient of variation 0.1 to 1),
integer, 0/1 and categorical features. Its reference is built by the trainer's own code
(services/trainer/reference.py on the trainer's model frame), and live windows go through the
monitor's own DriftWindows (binning, counts, tests, BH, the drift rule, the sequential totals).

For each shift of one feature the table shows the median number of windows of `--window`
predictions until that feature is judged drifting (">N": not within N windows in at least
half the runs), per rule; every rule sees the same streams and references:
- psi: significant (BH-adjusted p < 0.01) and PSI >= 0.2: the rule before issue 18;
- distance: significant and a Wasserstein distance >= 0.05 reference standard deviations or
  a total variation >= 0.05 (the default now);
- distance+seq: the same, or the same on the totals of all windows so far (alpha 0.001).
The missing-rate test (significant and moved by >= 0.05) is part of every rule.
False alarms: the share of windows of a stationary stream in which any feature drifts;
then the 99th percentile of each effect size on that stream (per window, and on the totals
of its windows): the noise an effect threshold has to clear.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from contracts import (
    CategoricalFeature,
    DatasetSpec,
    IntegerFeature,
    NumericFeature,
    RegressionTarget,
)
from services.monitor.accumulate import Baseline
from services.monitor.stats import warm_up
from services.monitor.windows import DriftWindows, Observation, WindowPolicy
from services.trainer.reference import reference_statistics
from services.trainer.snapshot import model_frame

KEY = ("power", 1)
MEAN = 100.0
INTEGER_VALUES = np.array([1, 2, 3, 4, 5])
INTEGER_SHARES = np.array([0.15, 0.3, 0.3, 0.15, 0.1])
ONE_SHARE = 0.3
CATEGORIES = np.array(["a", "b", "c"], dtype=object)
CATEGORY_SHARES = np.array([0.5, 0.3, 0.2])
Columns = dict[str, np.ndarray]


@dataclass(frozen=True)
class Numeric:
    name: str
    kind: str  # "normal" or "lognormal"
    cv: float

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if self.kind == "normal":
            return rng.normal(MEAN, MEAN * self.cv, n)
        sigma = math.sqrt(math.log(1 + self.cv**2))
        return rng.lognormal(math.log(MEAN) - sigma**2 / 2, sigma, n)


NUMERIC = [
    Numeric("normal_cv01", "normal", 0.1),
    Numeric("normal_cv03", "normal", 0.3),
    Numeric("normal_cv06", "normal", 0.6),
    Numeric("normal_cv10", "normal", 1.0),
    Numeric("lognormal_cv05", "lognormal", 0.5),
    Numeric("lognormal_cv10", "lognormal", 1.0),
]
SPEC = DatasetSpec(
    name="power",
    target=RegressionTarget(name="y"),
    features=(
        *(NumericFeature(name=f.name, nullable=True) for f in NUMERIC),
        IntegerFeature(name="integer", nullable=True),
        IntegerFeature(name="zero_one", nullable=True),
        CategoricalFeature(name="category", categories=tuple(CATEGORIES), nullable=True),
    ),
)


def draw(rng: np.random.Generator, n: int) -> Columns:
    columns: Columns = {f.name: f.draw(rng, n) for f in NUMERIC}
    columns["integer"] = rng.choice(INTEGER_VALUES, n, p=INTEGER_SHARES).astype(float)
    columns["zero_one"] = (rng.random(n) < ONE_SHARE).astype(float)
    columns["category"] = rng.choice(CATEGORIES, n, p=CATEGORY_SHARES)
    return columns


def prediction(columns: Columns, rng: np.random.Generator) -> np.ndarray:
    x = np.nan_to_num(columns["normal_cv03"], nan=MEAN)
    predicted: np.ndarray = 1000 + 3 * x + 40 * np.nan_to_num(columns["integer"])
    return predicted + rng.normal(0, 30, x.size)


# --- shifts: each changes one column of a window -------------------------------------------


def mean_shift(share: float) -> Callable[[np.ndarray, np.random.Generator], np.ndarray]:
    return lambda v, rng: v + share * MEAN


def scale(v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return MEAN + (v - MEAN) * 1.5


def more_missing(v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = v.astype(object) if v.dtype == object else v.copy()
    out[rng.random(v.size) < 0.2] = None if v.dtype == object else np.nan
    return out


def stops_arriving(v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.full(v.size, np.nan)


def top_value_moved(v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.where(v == INTEGER_VALUES[-1], INTEGER_VALUES[-1] + 1, v)


def value_merged(v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.where(v == 3, 4, v)  # every 3 becomes a 4 (the bathrooms)


def ones_up(share: float) -> Callable[[np.ndarray, np.random.Generator], np.ndarray]:
    def shifted(v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        flip = (v == 0) & (rng.random(v.size) < ONE_SHARE * share / (1 - ONE_SHARE))
        return np.where(flip, 1.0, v)

    return shifted


def category_halved(v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    others = CATEGORIES[CATEGORIES != "b"]
    shares = CATEGORY_SHARES[CATEGORIES != "b"]
    moved = (v == "b") & (rng.random(v.size) < 0.5)
    replacement = rng.choice(others, v.size, p=shares / shares.sum())
    return np.where(moved, replacement, v)


Shift = Callable[[np.ndarray, np.random.Generator], np.ndarray]
SCENARIOS: list[tuple[str, str, Shift]] = [
    *((f"mean +{p:.0%}", f.name, mean_shift(p)) for p in (0.05, 0.1, 0.3) for f in NUMERIC),
    *(("scale x1.5", f.name, scale) for f in NUMERIC),
    ("top value +1", "integer", top_value_moved),
    ("3s become 4s", "integer", value_merged),
    ("share of 1s +10%", "zero_one", ones_up(0.1)),
    ("share of 1s +30%", "zero_one", ones_up(0.3)),
    ("category share halved", "category", category_halved),
    ("20% more missing", "normal_cv03", more_missing),
    ("20% more missing", "integer", more_missing),
    ("20% more missing", "category", more_missing),
    ("stops arriving", "lognormal_cv10", stops_arriving),
]
DEFAULT = WindowPolicy()
COLUMNS = ("psi", "distance", "distance+seq")


def baseline(rng: np.random.Generator, size: int) -> Baseline:
    """The reference as the trainer computes it, from its model frame of `size` rows."""
    columns = draw(rng, size)
    rows = _rows(columns)
    for row, y in zip(rows, prediction(columns, rng), strict=True):
        row["y"] = float(y)
    frame = model_frame(rows, SPEC)
    reference = reference_statistics(frame, SPEC, prediction(columns, rng))
    assert reference.size is not None
    return Baseline(reference, reference.size)


def _rows(columns: Columns) -> list[dict[str, Any]]:
    names = list(columns)
    values = [_plain(columns[n]) for n in names]
    return [dict(zip(names, row, strict=True)) for row in zip(*values, strict=True)]


def _plain(column: np.ndarray) -> list[Any]:
    plain: list[Any] = column.tolist()
    if column.dtype == object:
        return plain
    return [None if isinstance(v, float) and math.isnan(v) else v for v in plain]


def observations(columns: Columns, rng: np.random.Generator) -> list[Observation]:
    predicted = prediction(columns, rng).tolist()
    return [
        Observation(features=row, prediction=p)
        for row, p in zip(_rows(columns), predicted, strict=True)
    ]


@dataclass
class Run:
    """What one stream showed: the first window a feature drifted in, per rule (the window
    alone, or also the totals), and on a stationary stream the alarms and effect sizes."""

    first: dict[str, float]
    alarms: dict[str, int]
    effects: dict[str, list[float]]


def run(
    policy: WindowPolicy,
    base: Baseline,
    feature: str | None,
    shift: Shift | None,
    windows_count: tuple[int, int],
    seed: tuple[int, ...],
) -> Run:
    """One stream of `limit` windows of `window` predictions through DriftWindows."""
    window, limit = windows_count
    rng = np.random.default_rng(seed)
    windows = DriftWindows(replace(policy, window_size=window, min_window=window))
    result = Run(first={}, alarms={"window": 0, "totals": 0, "either": 0}, effects={})
    for index in range(1, limit + 1):
        columns = draw(rng, window)
        if feature is not None and shift is not None:
            columns[feature] = shift(columns[feature], rng)
        for observation in observations(columns, rng):
            windows.add(KEY, observation)
        [report] = [r for r in windows.evaluate(KEY, base) if r.complete]
        judged = {"window": report.statistics, "totals": report.sequential}
        if feature is None:
            result.alarms["either"] += report.drifting
        for name, judgement in judged.items():
            if judgement is None:
                continue
            drifting = {n for n, s in judgement.features.items() if s.drifting}
            if feature is None:
                result.alarms[name] += bool(drifting)
                _collect_effects(result.effects, name, judgement)
            elif feature in drifting:
                result.first.setdefault(name, index)
        if feature is not None and len(result.first) == len(judged):
            break
    return result


def _collect_effects(effects: dict[str, list[float]], name: str, statistics: Any) -> None:
    for s in statistics.features.values():
        for effect in ("psi", "wasserstein", "total_variation"):
            value = getattr(s, effect)
            if not math.isnan(value):
                effects.setdefault(f"{effect} ({name})", []).append(value)


def detection_cells(runs: list[dict[str, Run]], limit: int) -> list[str]:
    found = {
        "psi": [r["psi"].first.get("window", math.inf) for r in runs],
        "distance": [r["distance"].first.get("window", math.inf) for r in runs],
        "distance+seq": [
            min(r["distance"].first.get(k, math.inf) for k in ("window", "totals")) for r in runs
        ],
    }
    cells = []
    for column in COLUMNS:
        median = statistics.median(found[column])
        cells.append(f">{limit}" if math.isinf(median) else f"{median:g}")
    return cells


def false_alarms(
    rules: dict[str, WindowPolicy], repeats: int, stationary: int, args: argparse.Namespace
) -> None:
    null_runs = []
    for repeat in range(repeats):
        base = baseline(np.random.default_rng((18, 999, repeat, 0)), args.reference)
        seed = (18, 999, repeat, 1)
        null_runs.append(
            {
                rule: run(policy, base, None, None, (args.window, stationary), seed)
                for rule, policy in rules.items()
            }
        )
    windows = repeats * stationary
    alarms = [
        sum(r[rule].alarms[judged] for r in null_runs)
        for rule, judged in (("psi", "window"), ("distance", "window"), ("distance", "either"))
    ]
    label = f"false alarms ({repeats}x{stationary} windows)"
    print(f"{label:<39}" + "".join(f"{n / windows:>14.2%}" for n in alarms))
    print("99th percentile of effect sizes on the stationary stream:")
    effects: dict[str, list[float]] = {}
    for r in null_runs:
        for name, values in r["distance"].effects.items():
            effects.setdefault(name, []).extend(values)
    for name, values in sorted(effects.items()):
        print(f"  {name:<28} {np.percentile(values, 99):.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="more repetitions and windows")
    parser.add_argument("--window", type=int, default=1000, help="predictions per window")
    parser.add_argument("--reference", type=int, default=2000, help="training rows")
    parser.add_argument(
        "--wasserstein", type=float, default=DEFAULT.wasserstein_threshold, help="threshold"
    )
    parser.add_argument(
        "--total-variation",
        type=float,
        default=DEFAULT.total_variation_threshold,
        help="threshold",
    )
    parser.add_argument("--only", default="", help="run the shifts whose name contains this")
    parser.add_argument("--limit", type=int, help="windows per stream (12; 30 with --full)")
    parser.add_argument("--no-stationary", action="store_true", help="skip the false alarms")
    args = parser.parse_args()
    distance = replace(
        DEFAULT,
        sequential=True,
        wasserstein_threshold=args.wasserstein,
        total_variation_threshold=args.total_variation,
    )
    rules = {"psi": replace(DEFAULT, effect="psi"), "distance": distance}
    repeats, limit, stationary = (7, 30, 400) if args.full else (3, 12, 100)
    limit = args.limit or limit
    warm_up()
    started = time.perf_counter()
    print(
        f"windows of {args.window}, reference of {args.reference} training rows, "
        f"{repeats} runs per cell, at most {limit} windows; median windows to detection"
    )
    header = f"{'shift':<22} {'feature':<16}" + "".join(f"{c:>14}" for c in COLUMNS)
    print(header)
    print("-" * len(header))
    for number, (name, feature, shift) in enumerate(SCENARIOS):
        if args.only not in name:
            continue
        runs = []
        for repeat in range(repeats):
            base = baseline(np.random.default_rng((18, number, repeat, 0)), args.reference)
            seed = (18, number, repeat, 1)
            runs.append(
                {
                    rule: run(policy, base, feature, shift, (args.window, limit), seed)
                    for rule, policy in rules.items()
                }
            )
        print(
            f"{name:<22} {feature:<16}" + "".join(f"{c:>14}" for c in detection_cells(runs, limit))
        )
    if not args.no_stationary:
        false_alarms(rules, repeats, stationary, args)
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
