"""`mlbus demo` with no broker named: Apache Kafka where Java 17+ runs, else tansu, said so."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from mlbus.brokers.choice import default_broker_kind

pytestmark = pytest.mark.e2e


def test_the_demo_runs_on_the_default_broker_and_says_which() -> None:
    kind = default_broker_kind(say=lambda _: None)
    result = subprocess.run(
        [sys.executable, "-m", "mlbus", "demo", "--timeout", "150"],
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    expected = "starting Apache Kafka (KRaft)" if kind == "kafka" else "falling back to"
    assert expected in result.stdout, result.stdout
    started = re.search(r"broker ready at 127\.0\.0\.1:\d+ in (?P<s>[\d.]+) s", result.stdout)
    assert started is not None, result.stdout
    print(f"{kind} broker started in {started['s']} s")
    assert "result       COMPLETE" in result.stdout
