"""The ingest process alone on fresh topics of the session's broker, for the ingest e2e tests."""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx

from contracts import Topics
from mlbus.bus import ensure_topics
from mlbus.runner import Stack, StackConfig

_METRIC = re.compile(
    r'^mlbus_ingest_records_total\{dataset="[^"]*",outcome="(\w+)"\} (\S+)$', re.MULTILINE
)


@contextlib.contextmanager
def running_ingest(
    bootstrap: str, workdir: Path, spec_path: Path | None = None
) -> Iterator[tuple[Stack, Topics]]:
    """Ingest on fresh topics, with the spec at `spec_path` (None: the house-price spec)."""
    prefix = f"ing{uuid.uuid4().hex[:8]}."
    config = StackConfig.with_free_ports(bootstrap, workdir, topic_prefix=prefix)
    config.spec_path = spec_path
    topics = Topics.with_prefix(prefix)
    stack = Stack(config)
    stack.log_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(ensure_topics(bootstrap, topics.all()))
    stack.start_service("ingest")
    try:
        stack.wait_service_ready("ingest")
        yield stack, topics
    finally:
        stack.stop()


def outcomes(stack: Stack) -> dict[str, float]:
    """mlbus_ingest_records_total by outcome (summed over data sets), from /metrics."""
    text = httpx.get(stack.config.url("ingest") + "/metrics", timeout=5).text
    counted: dict[str, float] = {}
    for outcome, value in _METRIC.findall(text):
        counted[outcome] = counted.get(outcome, 0.0) + float(value)
    return counted
