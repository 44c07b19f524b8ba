"""Helpers of the monitor's end-to-end tests: a stand-in registry, Prometheus, a PNG reader."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import threading
import time
import zlib
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import numpy as np
import pytest
import yaml

from contracts import (
    HOUSE_PRICES,
    CategoricalFeature,
    CategoricalReference,
    ClassificationTarget,
    ColumnReference,
    ModelCard,
    ModelMetrics,
    ModelVersion,
    NumericReference,
    OnnxInput,
    PredictionMade,
    ReferenceStatistics,
    Topics,
)
from mlbus.datagen import RecordGenerator
from mlbus.runner import Stack, free_port
from tests.support.accounting import wait_until_committed
from tests.support.class_samples import BINARY, REFERENCE_ROWS, classifier_reference
from tests.support.polling import eventually_sync

HOLDOUT_RMSE = 1000.0
ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "mlbus.json"
RULES = ROOT / "deploy" / "prometheus" / "rules"
# Grafana's ranges, and its model variable set to All (its allValue).
GRAFANA_RANGES = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "1h",
    "$model": ".*",
}


def _numeric(values: list[float], bins: int = 10) -> NumericReference:
    edges = np.unique(np.quantile(np.asarray(values, dtype=float), np.linspace(0, 1, bins + 1)))
    counts, _ = np.histogram(values, bins=edges)
    return NumericReference(
        bin_edges=tuple(float(e) for e in edges),
        fractions=tuple(float(c) / len(values) for c in counts),
    )


def _categorical(values: list[Any]) -> CategoricalReference:
    counts = Counter(str(v) for v in values)
    return CategoricalReference(frequencies={k: n / len(values) for k, n in counts.items()})


def model_version(version: int, size: int = 3000) -> ModelVersion:
    """A version whose reference is the generator's undrifted data (price as prediction)."""
    records = list(RecordGenerator(seed=0).records(size))
    features: dict[str, ColumnReference] = {}
    for feature in HOUSE_PRICES.features:
        values = [r[feature.name] for r in records]
        categorical = isinstance(feature, CategoricalFeature)
        features[feature.name] = _categorical(values) if categorical else _numeric(values)
    reference = ReferenceStatistics(
        features=features, prediction=_numeric([r["price"] for r in records])
    )
    card = ModelCard(
        model_name="house-prices",
        dataset="house-prices",
        estimator="stand-in",
        metrics=ModelMetrics(
            rmse=HOLDOUT_RMSE, mae=800.0, r2=0.9, holdout_size=500, parity_max_abs_error=0.0
        ),
        inputs=tuple(OnnxInput(name=f.name, type="float") for f in HOUSE_PRICES.features),
        snapshot_fingerprint="stand-in",
        snapshot_size=size,
        reference=reference,
    )
    return ModelVersion(
        model_name="house-prices",
        version=version,
        sha256="0" * 64,
        size_bytes=1,
        created_at="2026-01-01T00:00:00Z",
        card=card,
    )


def classifier_version(version: int, holdout_accuracy: float) -> ModelVersion:
    """Model "churn", the binary classifier of tests/unit/monitor/class_samples, whose card
    claims `holdout_accuracy`."""
    card = ModelCard(
        model_name="churn",
        dataset="churn",
        estimator="stand-in",
        metrics=ModelMetrics(
            task="classification",
            metric="log_loss",
            accuracy=holdout_accuracy,
            log_loss=0.3,
            macro_f1=holdout_accuracy,
            roc_auc=0.95,
            holdout_size=500,
            parity_max_abs_error=0.0,
        ),
        inputs=(OnnxInput(name="x", type="float"),),
        snapshot_fingerprint="stand-in",
        snapshot_size=REFERENCE_ROWS,
        reference=classifier_reference(BINARY),
        target=ClassificationTarget(name="churned", classes=BINARY),
        classes=BINARY,
    )
    return ModelVersion(
        model_name="churn",
        version=version,
        sha256="0" * 64,
        size_bytes=1,
        created_at="2026-01-01T00:00:00Z",
        card=card,
    )


@contextmanager
def stand_in_registry(
    versions: dict[int, ModelVersion], others: Iterable[ModelVersion] = ()
) -> Iterator[str]:
    """GET /models/house-prices/versions/{v} (and the `others`' paths) from memory; yields the
    base URL."""
    bodies = {
        f"/models/house-prices/versions/{v}": mv.model_dump_json().encode()
        for v, mv in versions.items()
    }
    bodies |= {
        f"/models/{mv.model_name}/versions/{mv.version}": mv.model_dump_json().encode()
        for mv in others
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = bodies.get(self.path)
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body or json.dumps({"detail": "not found"}).encode())

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def required(binary: str) -> str:
    found = shutil.which(binary)
    if found is None:
        pytest.fail(f"`{binary}` is missing: apt-get install {binary} (scripts/install-ci-deps.sh)")
    return found


@contextmanager
def prometheus(workdir: Path, targets: Mapping[str, int]) -> Iterator[str]:
    """A real Prometheus scraping {job: port on 127.0.0.1} every second, with the alert
    rules of deploy/; yields its URL and stops it on exit."""
    port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES / "*.yml")],
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": [f"127.0.0.1:{target}"]}]}
            for job, target in targets.items()
        ],
    }
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    with (workdir / "prometheus.log").open("wb") as log:
        process = subprocess.Popen(
            [
                required("prometheus"),
                f"--config.file={workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={workdir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_ready(url, workdir / "prometheus.log")
        yield url
    finally:
        process.terminate()
        process.wait(10)


def _wait_ready(url: str, log: Path) -> None:
    eventually_sync(
        lambda: httpx.get(f"{url}/-/ready", timeout=1).status_code,
        what="prometheus ready",
        until=lambda status: status == 200,
        ignoring=(httpx.HTTPError,),
        context=log.read_text,
    )


def dashboard_expressions(without_rows: Collection[str] = ()) -> dict[str, str]:
    """Every PromQL expression of the Grafana dashboard, Grafana's ranges filled in; panels
    under a row titled in `without_rows` are left out."""
    found: dict[str, str] = {}
    row = ""
    for panel in json.loads(DASHBOARD.read_text())["panels"]:
        if panel["type"] == "row":
            row = panel["title"]
        if row in without_rows:
            continue
        for target in panel.get("targets", []):
            expr = target["expr"]
            for variable, value in GRAFANA_RANGES.items():
                expr = expr.replace(variable, value)
            found[f"panel {panel['title']!r} {target['refId']}"] = expr
    return found


def alert_expressions(files: str = "*.yml") -> dict[str, str]:
    """The expression of every alert rule of deploy/prometheus/rules (those `files`), by name."""
    found: dict[str, str] = {}
    for path in sorted(RULES.glob(files)):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                found[rule["alert"]] = rule["expr"]
    return found


def query(prometheus_url: str, expr: str) -> list[dict[str, Any]]:
    """The instant query's result vector (asserts Prometheus accepted the expression)."""
    response = httpx.get(f"{prometheus_url}/api/v1/query", params={"query": expr}, timeout=10)
    body = response.json()
    assert body["status"] == "success", (expr, body)
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def wait_scraped(prometheus_url: str, job: str) -> float:
    """Until Prometheus has scraped `job` after this call, so that it holds what the job's
    /metrics showed now; returns when that scrape was seen (a time.time())."""
    since = time.time()
    eventually_sync(
        lambda: _last_scrape(prometheus_url, job),
        what=f"a scrape of {job} after {since:.3f}",
        until=lambda scraped: scraped > since,
        interval=0.1,
    )
    return time.time()


def wait_scraped_and_evaluated(prometheus_url: str, job: str) -> None:
    """Until Prometheus has scraped `job` after this call and then evaluated every rule group,
    so that its alerts reflect what the job's /metrics showed now."""
    seen = wait_scraped(prometheus_url, job)
    eventually_sync(
        lambda: _oldest_rule_evaluation(prometheus_url),
        what=f"every rule group evaluated after {seen:.3f}",
        until=lambda evaluated: evaluated > seen,
        interval=0.1,
    )


def _last_scrape(prometheus_url: str, job: str) -> float:
    """When the last scrape of `job` began (its `up` sample's time), 0 before the first."""
    result = query(prometheus_url, f'timestamp(up{{job="{job}"}})')
    return max((float(r["value"][1]) for r in result), default=0.0)


def _oldest_rule_evaluation(prometheus_url: str) -> float:
    """When the rule group evaluated longest ago last began, 0 before every group ran."""
    groups = httpx.get(f"{prometheus_url}/api/v1/rules", timeout=10).json()["data"]["groups"]
    starts = [datetime.fromisoformat(g["lastEvaluation"]).timestamp() for g in groups]
    return min(starts, default=0.0)


def png_pixels(data: bytes) -> np.ndarray:
    """RGB(A) pixels of an 8-bit, non-interlaced PNG (what chromium's screenshots are)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    position, chunks, header = 8, [], b""
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        payload = data[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            header = payload
        elif kind == b"IDAT":
            chunks.append(payload)
        position += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8, (depth, colour, interlace)
    assert colour in (2, 6), (depth, colour, interlace)
    assert interlace == 0, (depth, colour, interlace)
    channels = 3 if colour == 2 else 4
    raw = np.frombuffer(zlib.decompress(b"".join(chunks)), dtype=np.uint8)
    stride = width * channels
    rows = raw.reshape(height, stride + 1)
    image = np.zeros((height, stride), dtype=np.int32)
    for y in range(height):
        image[y] = _unfilter(rows[y, 0], rows[y, 1:].astype(np.int32), image, y, channels)
    return image.reshape(height, width, channels).astype(np.uint8)


def _unfilter(kind: int, line: np.ndarray, image: np.ndarray, y: int, bpp: int) -> np.ndarray:
    above = image[y - 1] if y else np.zeros_like(line)
    if kind == 0:
        return line
    if kind == 2:
        up: np.ndarray = (line + above) % 256
        return up
    out = np.zeros_like(line)
    for x in range(line.size):  # Sub, Average and Paeth depend on the pixel to the left
        left = out[x - bpp] if x >= bpp else 0
        upper_left = above[x - bpp] if x >= bpp else 0
        if kind == 1:
            predicted = left
        elif kind == 3:
            predicted = (left + above[x]) // 2
        else:
            p = left + above[x] - upper_left
            pa, pb, pc = abs(p - left), abs(p - above[x]), abs(p - upper_left)
            predicted = left if pa <= pb and pa <= pc else (above[x] if pb <= pc else upper_left)
        out[x] = (line[x] + predicted) % 256
    return out


def made_predictions(
    count: int, *, seed: int, id_prefix: str, drift: dict[str, float] | None = None
) -> list[PredictionMade]:
    """PredictionMade events of generated house-price records (the price as the prediction)."""
    generator = RecordGenerator(seed=seed, drift=drift, id_prefix=id_prefix)
    return [
        PredictionMade(
            record_id=r["record_id"],
            request_event_id=uuid4(),
            model_name="house-prices",
            model_version=1,
            prediction=r["price"],
            features={k: v for k, v in r.items() if k not in ("record_id", "price")},
        )
        for r in generator.records(count)
    ]


async def monitor_caught_up(stack: Stack, timeout: float = 60.0) -> None:
    """Until the monitor's group has committed the end of its topics: the checkpoint behind
    those commits covers every record, so its counts are final."""
    config = stack.config
    topics = Topics.with_prefix(config.topic_prefix)
    await wait_until_committed(
        config.bootstrap_servers,
        f"{config.topic_prefix}mlbus-monitor",
        [topics.predict_results, topics.predict_shadow, topics.records],
        timeout=timeout,
        check=stack.check_alive,
    )
