"""The process runner's environment and the demo's reading of Prometheus text."""

from __future__ import annotations

from pathlib import Path

from mlbus.demo import parse_feature_psi
from mlbus.runner import SERVICES, StackConfig

METRICS = """\
# HELP mlbus_monitor_feature_psi PSI of a feature against the reference
# TYPE mlbus_monitor_feature_psi gauge
mlbus_monitor_feature_psi{feature="area",model="house-prices",version="1"} 0.5
mlbus_monitor_feature_psi{feature="area",model="house-prices",version="2"} 0.1
mlbus_monitor_feature_psi{feature="parking",model="house-prices",version="1"} 0.02
mlbus_monitor_prediction_psi{model="house-prices",version="1"} 0.3
"""


def test_the_newest_model_version_wins() -> None:
    assert parse_feature_psi(METRICS) == {"area": 0.1, "parking": 0.02}


def test_no_psi_yet() -> None:
    assert parse_feature_psi("# nothing here\n") == {}


def test_stack_environment_wires_every_service(tmp_path: Path) -> None:
    config = StackConfig.with_free_ports(
        "127.0.0.1:9", tmp_path, topic_prefix="t1.", extra_env={"MLBUS_MONITOR_WINDOW_SIZE": "9"}
    )
    env = config.env()
    assert env["MLBUS_KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:9"
    assert env["MLBUS_KAFKA_TOPIC_PREFIX"] == "t1."
    assert env["MLBUS_TRAINER_REGISTRY_TOKEN"] == env["MLBUS_REGISTRY_TOKEN"]
    assert env["MLBUS_PREDICTOR_REGISTRY_URL"] == config.url("registry")
    assert env["MLBUS_MONITOR_WINDOW_SIZE"] == "9"
    ports = {int(env[f"MLBUS_{name.upper()}_PORT"]) for name in SERVICES}
    assert len(ports) == len(SERVICES)
    assert "MLBUS_INGEST_SPEC" not in env


def test_a_spec_path_reaches_ingest_and_trainer(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    env = StackConfig("b:1", tmp_path, spec_path=spec).env()
    assert env["MLBUS_INGEST_SPEC"] == env["MLBUS_TRAINER_SPEC"] == str(spec)
