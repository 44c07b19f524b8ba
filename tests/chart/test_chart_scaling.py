"""How the chart scales the services: KEDA on consumer-group lag for ingest and the predictor (an
HPA on CPU without KEDA), fixed replicas for the rest, disruption budgets and spreading, and the
values it refuses because the release would run but misbehave."""

from __future__ import annotations

from typing import Any

import pytest

from services.common.settings import KafkaSettings
from tests.chart.chart_tools import (
    SERVICES,
    component_of,
    container_of,
    deployment_of,
    objects_of,
    render_failure,
    settings_class,
    values_args,
)

# Which services each value set autoscales (tests/chart/values).
AUTOSCALED = {
    "defaults": {"predictor"},
    "minimal-resources": {"predictor"},
    "replicated-kafka": {"ingest", "predictor"},
}


def lag_source(service: str, prefix: str) -> tuple[str, str]:
    """The topic and group whose lag is the service's backlog, as the service names them."""
    kafka = KafkaSettings(topic_prefix=prefix)
    topic = kafka.topics.raw if service == "ingest" else kafka.topics.predict_requests
    return topic, settings_class(service)(kafka=kafka).group_id


def _env(deployment: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item.get("value", "") for item in container_of(deployment)["env"]}


def _scaled_objects(value_set: str) -> dict[str, dict[str, Any]]:
    return {component_of(obj): obj for obj in objects_of(value_set, "ScaledObject")}


@pytest.mark.parametrize("value_set", sorted(AUTOSCALED))
def test_keda_scales_each_autoscaled_service_on_its_groups_lag(value_set: str) -> None:
    scaled = _scaled_objects(value_set)
    assert scaled.keys() == AUTOSCALED[value_set]
    for service, scaled_object in scaled.items():
        deployment = deployment_of(value_set, service)
        assert scaled_object["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": deployment["metadata"]["name"],
        }
        (trigger,) = scaled_object["spec"]["triggers"]
        env = _env(deployment)
        topic, group = lag_source(service, env.get("MLBUS_KAFKA_TOPIC_PREFIX", ""))
        assert trigger["type"] == "kafka"
        assert (trigger["metadata"]["topic"], trigger["metadata"]["consumerGroup"]) == (
            topic,
            group,
        )
        assert trigger["metadata"]["bootstrapServers"] == env["MLBUS_KAFKA_BOOTSTRAP_SERVERS"]
        assert int(trigger["metadata"]["lagThreshold"]) > 0
        assert "replicas" not in deployment["spec"], "KEDA owns the replicas"
    assert objects_of(value_set, "HorizontalPodAutoscaler") == []


@pytest.mark.parametrize("value_set", sorted(AUTOSCALED))
def test_services_not_autoscaled_keep_their_replicas(value_set: str) -> None:
    for service in set(SERVICES) - AUTOSCALED[value_set]:
        assert deployment_of(value_set, service)["spec"]["replicas"] >= 1


def test_scaling_down_waits_for_the_lag_to_stay_low() -> None:
    """Each replica removed pauses the group for a rebalance: the HPA KEDA drives waits first."""
    for scaled_object in _scaled_objects("defaults").values():
        hpa_config = scaled_object["spec"]["advanced"]["horizontalPodAutoscalerConfig"]
        assert hpa_config["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 300
        assert "fallback" not in scaled_object["spec"]


def test_keda_holds_fallback_replicas_while_it_cannot_read_the_lag() -> None:
    """And a service's own bounds reach its ScaledObject (ingest: up to 6 in that set)."""
    for scaled_object in _scaled_objects("replicated-kafka").values():
        assert scaled_object["spec"]["fallback"] == {"failureThreshold": 3, "replicas": 2}
    ingest = _scaled_objects("replicated-kafka")["ingest"]["spec"]
    assert (ingest["minReplicaCount"], ingest["maxReplicaCount"]) == (1, 6)


def test_without_keda_hpas_scale_the_autoscaled_services_on_cpu() -> None:
    assert objects_of("keda-off", "ScaledObject") == []
    hpas = {component_of(hpa): hpa for hpa in objects_of("keda-off", "HorizontalPodAutoscaler")}
    assert hpas.keys() == {"ingest", "predictor"}
    for service, hpa in hpas.items():
        deployment = deployment_of("keda-off", service)
        assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
        assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
        assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 300
        assert "replicas" not in deployment["spec"]
    assert (hpas["predictor"]["spec"]["minReplicas"], hpas["predictor"]["spec"]["maxReplicas"]) == (
        1,
        3,
    )


@pytest.mark.parametrize("value_set", ["defaults", "keda-off"])
def test_a_disruption_budget_covers_every_service(value_set: str) -> None:
    budgets = {
        component_of(obj): obj["spec"] for obj in objects_of(value_set, "PodDisruptionBudget")
    }
    assert budgets.keys() == set(SERVICES)
    for service, spec in budgets.items():
        selector = deployment_of(value_set, service)["spec"]["selector"]
        assert spec["selector"] == selector
        assert spec["maxUnavailable"] == 1


def test_each_services_replicas_spread_over_nodes_and_zones() -> None:
    for service in SERVICES:
        deployment = deployment_of("defaults", service)
        constraints = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
        assert [c["topologyKey"] for c in constraints] == [
            "kubernetes.io/hostname",
            "topology.kubernetes.io/zone",
        ]
        for constraint in constraints:
            assert constraint["whenUnsatisfiable"] == "ScheduleAnyway"
            assert constraint["labelSelector"] == deployment["spec"]["selector"]


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("services.trainer.replicas=2", "services.trainer.replicas must be 0 or 1"),
        ("services.monitor.replicas=3", "services.monitor.replicas must be 0 or 1"),
        ("services.registry.replicas=2", "services.registry.replicas > 1 needs artifacts.s3"),
        (
            "services.predictor.autoscaling.minReplicas=5",
            "services.predictor.autoscaling: minReplicas exceeds maxReplicas",
        ),
    ],
)
def test_values_that_would_misbehave_are_refused_with_the_reason(
    setting: str, message: str
) -> None:
    assert message in render_failure(*values_args("defaults", "--set", setting))
