"""Alert rules: valid for promtool, loaded by the Prometheus config, and unit-tested by promtool."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

from tests.unit.deploy.test_compose import required_tool
from tests.unit.deploy.test_dashboard import exposed_series

ROOT = Path(__file__).resolve().parents[3]
PROMETHEUS = ROOT / "deploy" / "prometheus"
RULES = sorted((PROMETHEUS / "rules").glob("*.yml"))
TESTS = sorted((PROMETHEUS / "tests").glob("*-test.yml"))
HINT = "apt-get install prometheus (scripts/install-ci-deps.sh)"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = required_tool("promtool", HINT)
    return subprocess.run(
        [binary, *args], capture_output=True, text=True, timeout=60, check=False, cwd=ROOT
    )


def test_the_prometheus_config_loads_every_rule_file() -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    loaded = {p for pattern in config["rule_files"] for p in PROMETHEUS.glob(pattern)}
    assert RULES
    assert loaded == set(RULES)


def test_promtool_accepts_the_alert_rules() -> None:
    result = promtool("check", "rules", *map(str, RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    alerts = [
        rule["alert"]
        for path in RULES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    ]
    assert {
        "MlbusDatasetDrift",
        "MlbusDriftDetected",
        "MlbusLiveErrorAboveHoldout",
        "MlbusConsumerStalled",
        "MlbusPoisonSkipped",
        "MlbusLiveAccuracyBelowHoldout",
        "MlbusCalibrationError",
        "MlbusLabelDrift",
        "MlbusModelRefused",
        "MlbusShadowScoringFails",
    } <= set(alerts)


def test_every_rule_file_has_a_promtool_unit_test() -> None:
    tested = {path.name.removesuffix("-test.yml") for path in TESTS}
    assert tested == {path.stem for path in RULES}


def test_the_alert_rules_fire_as_their_promtool_unit_tests_expect() -> None:
    result = promtool("test", "rules", *map(str, TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(TESTS)


def test_every_alert_about_a_model_keeps_the_model_label() -> None:
    """A stack serves many models: an alert on a per-model metric names its model, so each
    aggregation of such an alert keeps `model` (metrics and labels: the dashboard's contract)."""
    known = exposed_series()
    for path in RULES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                metrics = set(re.findall(r"\bmlbus_\w+", rule["expr"]))
                if not any("model" in known.get(name, set()) for name in metrics):
                    continue
                assert "without (" not in rule["expr"], rule["alert"]
                for grouped in re.findall(r"\bby \(([^)]*)\)", rule["expr"]):
                    labels = {label.strip() for label in grouped.split(",")}
                    assert "model" in labels, f"{rule['alert']}: by ({grouped}) drops model"
