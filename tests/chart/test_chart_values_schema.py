"""values.schema.json: helm refuses values that misspell a key or give a wrong kind of value,
where the chart would otherwise ignore them and install something else than was meant."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from tests.chart.chart_tools import CHART, SERVICES, render_failure, values_args


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("autoscalling.keda.enabled=false", "additional properties 'autoscalling' not allowed"),
        (
            "services.predictor.autoscaling.lagTreshold=100",
            "at '/services/predictor/autoscaling': additional properties 'lagTreshold'",
        ),
        # Only ingest and the predictor have a backlog to scale on.
        (
            "services.trainer.autoscaling.enabled=true",
            "at '/services/trainer': additional properties 'autoscaling' not allowed",
        ),
        ("kafka.producerAcks=2", "at '/kafka/producerAcks': value must be one of"),
        ("kafka.saslMechanism=GSSAPI", "at '/kafka/saslMechanism': value must be one of"),
        ("services.ingest.replicas=-1", "at '/services/ingest/replicas'"),
        ("services.predictor.autoscaling.lagThreshold=lots", "at '/services/predictor/autoscaling"),
    ],
)
def test_a_misspelled_or_mistyped_value_is_refused_where_it_is(setting: str, message: str) -> None:
    assert message in render_failure(*values_args("defaults", "--set", setting))


def _stale_keys(schema: dict[str, Any], values: Any, path: str) -> list[str]:
    """Keys a closed object of the schema lists that the values do not have."""
    if schema.get("additionalProperties") is not False or not isinstance(values, dict):
        return []
    stale = []
    for key, sub in schema["properties"].items():
        if key not in values:
            stale.append(f"{path}.{key}")
        else:
            stale += _stale_keys(sub, values[key], f"{path}.{key}")
    return stale


def test_the_schema_lists_no_value_the_chart_does_not_have() -> None:
    """(The other way, values.yaml with a key the schema lacks, helm refuses at every render.)"""
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    # global is Helm's; a service's own scheduling and annotations are optional overrides.
    optional = {".global"} | {
        f".services.{service}.{key}"
        for service in SERVICES
        for key in ("podAnnotations", "nodeSelector", "tolerations", "affinity", "tmpSizeLimit")
    }
    assert set(_stale_keys(schema, values, "")) <= optional
