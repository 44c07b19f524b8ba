"""How the chart reaches an external Kafka: every node of a cluster, producers that wait for all
in-sync replicas, a private CA for TLS, SASL; for the services and for KEDA's scaler alike."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.chart.chart_tools import (
    SERVICES,
    VALUES,
    container_of,
    deployment_of,
    objects_of,
    render_failure,
    template,
    values_args,
)

CLUSTER = "replicated-kafka"
CA_SECRET = "mlbus-kafka-cluster-ca-cert"


def _env(value_set: str, service: str) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in container_of(deployment_of(value_set, service))["env"]}


def _values_file(value_set: str) -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load((VALUES / f"{value_set}.yaml").read_text())
    return values


def test_every_node_of_a_listed_cluster_is_a_bootstrap_server() -> None:
    nodes = _values_file(CLUSTER)["kafka"]["bootstrapServers"]
    assert len(nodes) == 3
    for service in SERVICES:
        assert _env(CLUSTER, service)["MLBUS_KAFKA_BOOTSTRAP_SERVERS"]["value"] == ",".join(nodes)
    for scaled_object in objects_of(CLUSTER, "ScaledObject"):
        assert scaled_object["spec"]["triggers"][0]["metadata"]["bootstrapServers"] == ",".join(
            nodes
        )


def test_producers_wait_for_all_in_sync_replicas_with_idempotence() -> None:
    for service in SERVICES:
        env = _env(CLUSTER, service)
        assert env["MLBUS_KAFKA_PRODUCER_ACKS"]["value"] == "all"
        assert env["MLBUS_KAFKA_PRODUCER_IDEMPOTENCE"]["value"] == "true"
        defaults = _env("defaults", service)
        assert (
            not {"MLBUS_KAFKA_PRODUCER_ACKS", "MLBUS_KAFKA_PRODUCER_IDEMPOTENCE"} & defaults.keys()
        )


def test_idempotence_without_all_acks_is_refused_as_the_services_would() -> None:
    acks_of_the_leader = (
        "--set",
        "kafka.producerAcks=1",
        "--set",
        "kafka.producerIdempotence=true",
    )
    stderr = render_failure(*values_args(CLUSTER, *acks_of_the_leader))
    assert "kafka.producerIdempotence needs kafka.producerAcks: all" in stderr


@pytest.mark.parametrize("service", SERVICES)
def test_the_brokers_ca_is_mounted_read_only_where_the_services_look(service: str) -> None:
    deployment = deployment_of(CLUSTER, service)
    container = container_of(deployment)
    cafile = _env(CLUSTER, service)["MLBUS_KAFKA_SSL_CAFILE"]["value"]
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "kafka-ca"]
    assert mount["readOnly"] is True
    assert cafile == f"{mount['mountPath']}/ca.crt"
    (volume,) = [
        v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "kafka-ca"
    ]
    assert volume["secret"] == {
        "secretName": CA_SECRET,
        "items": [{"key": "ca.crt", "path": "ca.crt"}],
    }
    assert "MLBUS_KAFKA_SSL_CAFILE" not in _env("defaults", service)


def test_keda_trusts_the_same_ca_over_tls() -> None:
    (auth,) = objects_of(CLUSTER, "TriggerAuthentication")
    assert auth["spec"]["secretTargetRef"] == [
        {"parameter": "ca", "name": CA_SECRET, "key": "ca.crt"}
    ]
    for scaled_object in objects_of(CLUSTER, "ScaledObject"):
        (trigger,) = scaled_object["spec"]["triggers"]
        assert trigger["metadata"]["tls"] == "enable"
        assert "sasl" not in trigger["metadata"]
        assert trigger["authenticationRef"]["name"] == auth["metadata"]["name"]


def test_keda_logs_in_to_a_sasl_kafka_with_the_secrets_credentials() -> None:
    (scaled,) = objects_of("existing-secret", "ScaledObject")
    (auth,) = objects_of("existing-secret", "TriggerAuthentication")
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["authenticationRef"]["name"] == auth["metadata"]["name"]
    assert trigger["metadata"]["tls"] == "enable"
    refs = {ref["parameter"]: ref for ref in auth["spec"]["secretTargetRef"]}
    assert refs.keys() == {"username", "password"}
    assert {ref["name"] for ref in refs.values()} == {"mlbus-credentials"}


@pytest.mark.parametrize(
    ("mechanism", "keda_name"),
    # KEDA's Kafka scaler accepts none|plaintext|scram_sha256|scram_sha512|oauthbearer|gssapi.
    [("PLAIN", "plaintext"), ("SCRAM-SHA-256", "scram_sha256"), ("SCRAM-SHA-512", "scram_sha512")],
)
def test_the_sasl_mechanism_reaches_keda_by_its_own_name(mechanism: str, keda_name: str) -> None:
    result = template(*values_args("existing-secret", "--set", f"kafka.saslMechanism={mechanism}"))
    assert result.returncode == 0, result.stderr
    (scaled,) = [d for d in yaml.safe_load_all(result.stdout) if d and d["kind"] == "ScaledObject"]
    assert scaled["spec"]["triggers"][0]["metadata"]["sasl"] == keda_name


def test_no_trigger_authentication_without_sasl_or_a_ca() -> None:
    assert objects_of("defaults", "TriggerAuthentication") == []
    assert (
        "authenticationRef" not in objects_of("defaults", "ScaledObject")[0]["spec"]["triggers"][0]
    )


@pytest.mark.parametrize("field", ["bootstrap_servers", "producer_acks", "ssl_cafile"])
def test_kafka_settings_the_chart_sets_cannot_be_overridden(field: str) -> None:
    stderr = render_failure(*values_args("defaults", "--set", f"kafka.settings.{field}=x"))
    assert f"kafka.settings.{field} is set by the chart" in stderr
