"""The whole loop on one machine: data in, model trained and promoted, predictions out, drift."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from contracts import HOUSE_PRICES, DatasetSpec, Topics
from mlbus.bus import publish_all, read_topic
from mlbus.datagen import RecordGenerator

if TYPE_CHECKING:
    from collections.abc import Callable

    from mlbus.runner import StackConfig

# Settings that make the loop visible within a minute: one training run once the labelled
# records are in, and drift windows small enough to fill with the demo's traffic.
DEMO_ENV = {
    "MLBUS_TRAINER_RETRAIN_EVERY": "800",
    "MLBUS_TRAINER_MIN_RECORDS": "200",
    "MLBUS_MONITOR_WINDOW_SIZE": "250",
    "MLBUS_MONITOR_MIN_WINDOW": "100",
    "MLBUS_MONITOR_DRIFT_WINDOWS": "2",
}
BAD_MESSAGES: tuple[bytes, ...] = (
    b"{not json",
    b'{"record_id": "bad-type", "area": "huge", "bedrooms": 3}',
    b'{"record_id": "bad-range", "area": -5, "bedrooms": 99, "bathrooms": 1, "stories": 1,'
    b' "parking": 0, "mainroad": "yes", "guestroom": "no", "basement": "no",'
    b' "hotwaterheating": "no", "airconditioning": "no", "prefarea": "no",'
    b' "furnishingstatus": "furnished"}',
    b'{"record_id": "bad-category", "furnishingstatus": "palatial", "mystery": 1}',
    b'"just a string"',
)
_COUNT_LINE = re.compile(r"^mlbus_monitor_predictions_total\{[^}]*\} (?P<value>\S+)$", re.M)
_PSI_LINE = re.compile(r"^mlbus_monitor_feature_psi\{(?P<labels>[^}]*)\} (?P<value>\S+)$", re.M)


@dataclass
class DemoPlan:
    labelled: int = 800
    # With the demo's windows of 250: two calm windows, then two drifting ones -> DriftDetected.
    unlabelled: int = 500
    drifted: int = 500
    drift: dict[str, float] = field(default_factory=lambda: {"area": 0.5, "bedrooms": 0.4})
    timeout: float = 120.0


@dataclass
class DemoResult:
    model: dict[str, Any]
    predictions: list[dict[str, Any]]
    rejected: list[dict[str, Any]]
    psi: dict[str, float]
    drift_events: list[dict[str, Any]]
    seconds: float

    @property
    def complete(self) -> bool:
        expected = {p["record_id"] for p in self.predictions}
        return (
            bool(self.model)
            and bool(self.psi)
            and len(self.rejected) >= len(BAD_MESSAGES)
            and len(expected) == len(self.predictions)
            and all(p["model_version"] >= 1 for p in self.predictions)
        )


async def run_demo(
    config: StackConfig,
    plan: DemoPlan,
    spec: DatasetSpec = HOUSE_PRICES,
    say: Callable[[str], None] = print,
) -> DemoResult:
    """Drive a running stack through the loop; `config` must be the stack's own."""
    started = time.monotonic()
    topics = Topics.with_prefix(config.topic_prefix)
    bootstrap = config.bootstrap_servers
    key: Callable[[Any], str | None] = lambda r: r.get(spec.record_id_field)  # noqa: E731

    say(f"publishing {plan.labelled} labelled records to {topics.raw}")
    labelled = RecordGenerator(spec, seed=7, id_prefix="train")
    await publish_all(bootstrap, topics.raw, labelled.records(plan.labelled), key=key)

    say("waiting for the trainer to train, the registry to promote a champion ...")
    model = await wait_for_champion(config.url("registry"), spec.name, plan.timeout)
    metrics = model["card"]["metrics"]
    say(
        f"champion: {model['model_name']} v{model['version']}  rmse={metrics['rmse']:.0f} "
        f"mae={metrics['mae']:.0f} r2={metrics['r2']:.3f}"
    )

    normal = RecordGenerator(spec, seed=11, id_prefix="live")
    drifted = RecordGenerator(spec, seed=13, id_prefix="drift", drift=plan.drift)
    requests = [
        *normal.records(plan.unlabelled, labelled=False),
        *drifted.records(plan.drifted, labelled=False),
    ]
    say(
        f"publishing {len(requests)} unlabelled records ({plan.drifted} drifted) "
        f"and {len(BAD_MESSAGES)} bad messages"
    )
    await publish_all(bootstrap, topics.raw, requests, key=key)
    await publish_all(bootstrap, topics.raw, BAD_MESSAGES)

    predictions, rejected = await asyncio.gather(
        read_topic(
            bootstrap,
            topics.predict_results,
            timeout=plan.timeout,
            until=lambda m: len({p["record_id"] for p in m}) >= len(requests),
        ),
        read_topic(
            bootstrap,
            topics.rejected,
            timeout=plan.timeout,
            until=lambda m: len(m) >= len(BAD_MESSAGES),
        ),
    )
    say(f"predictions: {len(predictions)}; dead-lettered: {len(rejected)}")
    psi = await wait_for_psi(config.url("monitor"), len(requests), timeout=plan.timeout)
    drift_events = await read_topic(bootstrap, topics.drift, timeout=10, until=bool)
    return DemoResult(model, predictions, rejected, psi, drift_events, time.monotonic() - started)


async def wait_for_champion(registry_url: str, name: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=registry_url, timeout=5) as client:
        while time.monotonic() < deadline:
            response = await client.get(f"/models/{name}/aliases/champion")
            if response.status_code == 200:
                return dict(response.json())
            await asyncio.sleep(0.5)
    raise TimeoutError(f"no champion for {name!r} after {timeout:.0f}s")


async def wait_for_psi(monitor_url: str, predictions: int, timeout: float) -> dict[str, float]:
    """The monitor's PSI per feature once it has seen `predictions` predictions."""
    deadline = time.monotonic() + timeout
    psi: dict[str, float] = {}
    async with httpx.AsyncClient(base_url=monitor_url, timeout=5) as client:
        while time.monotonic() < deadline:
            text = (await client.get("/metrics")).text
            psi = parse_feature_psi(text)
            if psi and _counted_predictions(text) >= predictions:
                break
            await asyncio.sleep(0.5)
    return psi


def _counted_predictions(metrics_text: str) -> float:
    return sum(float(m["value"]) for m in _COUNT_LINE.finditer(metrics_text))


def parse_feature_psi(metrics_text: str) -> dict[str, float]:
    """{feature: psi} from Prometheus text; the newest model version wins."""
    found: dict[str, tuple[int, float]] = {}
    for match in _PSI_LINE.finditer(metrics_text):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', match["labels"]))
        version = int(labels.get("version", "0"))
        feature = labels["feature"]
        if feature not in found or version >= found[feature][0]:
            found[feature] = (version, float(match["value"]))
    return {feature: value for feature, (_, value) in found.items()}


def summary(result: DemoResult, config: StackConfig) -> str:
    metrics = result.model["card"]["metrics"]
    versions = sorted({p["model_version"] for p in result.predictions})
    lines = [
        "",
        "mlbus demo summary",
        f"  model        {result.model['model_name']} v{result.model['version']} (champion), "
        f"holdout rmse {metrics['rmse']:.0f}, mae {metrics['mae']:.0f}, r2 {metrics['r2']:.3f}",
        f"  predictions  {len(result.predictions)} by model version(s) {versions}",
        f"  rejected     {len(result.rejected)} messages dead-lettered with reasons",
        f"  drift events {len(result.drift_events)} DriftDetected published",
        "  feature PSI  "
        + ", ".join(
            f"{f}={v:.3f}" for f, v in sorted(result.psi.items(), key=lambda kv: -kv[1])[:6]
        ),
        *(
            f"  {'metrics' if i == 0 else '':<12} {name:<10} {config.url(name)}/metrics"
            for i, name in enumerate(sorted(config.ports))
        ),
        f"  loop took    {result.seconds:.1f}s",
        "  result       " + ("COMPLETE" if result.complete else "INCOMPLETE"),
    ]
    return "\n".join(lines)
