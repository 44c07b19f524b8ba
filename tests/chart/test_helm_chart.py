"""deploy/helm/mlbus: helm lint and template for several value sets, every rendered object valid
for Kubernetes, and the parts the chart promises (probes, non-root, read-only root, scaling)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.chart.chart_tools import (
    CHART,
    KUBE_VERSION,
    ROOT,
    SCHEMA_VERSIONS,
    SERVICES,
    VALUE_SETS,
    container_of,
    deployment_of,
    helm,
    objects_of,
    rendered,
    template,
    values_args,
)
from tests.chart.crd_schemas import crd_validators

# Kinds of CRDs (KEDA, Prometheus Operator): not in the Kubernetes schemas, checked below.
CUSTOM_KINDS = {"ScaledObject", "TriggerAuthentication", "ServiceMonitor", "PrometheusRule"}


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_helm_lint_passes_strictly(value_set: str) -> None:
    result = helm("lint", "--strict", str(CHART), "--kube-version", KUBE_VERSION,
                  *values_args(value_set))  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("value_set", VALUE_SETS)
@pytest.mark.parametrize("version", SCHEMA_VERSIONS)
def test_every_rendered_object_is_valid_for_kubernetes(value_set: str, version: str) -> None:
    builtin = [obj for obj in rendered(value_set) if obj["kind"] not in CUSTOM_KINDS]
    assert {"Deployment", "Service"} <= {obj["kind"] for obj in builtin}
    for obj in builtin:
        # strict: a field the schema does not know (a typo) fails too.
        kubernetes_validate.validate(obj, version, strict=True)


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_every_custom_object_is_valid_for_its_crd(value_set: str) -> None:
    """ScaledObject, TriggerAuthentication, ServiceMonitor, PrometheusRule: against the CRDs'
    own schemas (tests/chart/crds), with no field the CRD does not know."""
    custom = [obj for obj in rendered(value_set) if obj["kind"] in CUSTOM_KINDS]
    for obj in custom:
        validator = crd_validators()[(obj["apiVersion"], obj["kind"])]
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(obj)]
        assert not errors, f"{obj['kind']} {obj['metadata']['name']}: {errors}"


def test_the_crd_check_refuses_a_field_the_crd_does_not_know() -> None:
    (scaled,) = objects_of("defaults", "ScaledObject")
    misspelled = {**scaled, "spec": {**scaled["spec"], "cooldownPeriods": 300}}
    validator = crd_validators()[(scaled["apiVersion"], "ScaledObject")]
    assert validator.is_valid(scaled)
    assert not validator.is_valid(misspelled)


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_each_service_has_a_deployment_and_a_service(value_set: str) -> None:
    for service in SERVICES:
        ports = container_of(deployment_of(value_set, service))["ports"]
        (svc,) = [
            obj
            for obj in objects_of(value_set, "Service")
            if obj["metadata"]["labels"]["app.kubernetes.io/component"] == service
        ]
        assert svc["spec"]["ports"][0]["port"] == ports[0]["containerPort"]
        assert (
            svc["spec"]["selector"]
            == deployment_of(value_set, service)["spec"]["selector"]["matchLabels"]
        )


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_pods_probe_health_and_readiness_with_limits_non_root_on_a_read_only_root(
    value_set: str,
) -> None:
    for service in SERVICES:
        pod = deployment_of(value_set, service)["spec"]["template"]["spec"]
        container = container_of(deployment_of(value_set, service))
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert {"cpu", "memory"} <= container["resources"]["requests"].keys()
        assert {"cpu", "memory"} <= container["resources"]["limits"].keys()
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
        mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
        assert mounts.get("/tmp") == "tmp", "tempfile needs a writable /tmp"


def _mounted_under(path: str, container: dict[str, Any]) -> bool:
    return any(
        Path(path).is_relative_to(mount["mountPath"]) and not mount.get("readOnly", False)
        for mount in container["volumeMounts"]
    )


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_the_registry_data_dir_is_on_a_writable_volume(value_set: str) -> None:
    container = container_of(deployment_of(value_set, "registry"))
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert _mounted_under(env["MLBUS_REGISTRY_DATA_DIR"], container)


def test_the_registry_keeps_artifacts_on_a_claim_unless_they_go_to_the_bucket() -> None:
    (claim,) = objects_of("defaults", "PersistentVolumeClaim")
    volumes = deployment_of("defaults", "registry")["spec"]["template"]["spec"]["volumes"]
    data = next(volume for volume in volumes if volume["name"] == "data")
    assert data["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert deployment_of("defaults", "registry")["spec"]["strategy"]["type"] == "Recreate"
    assert objects_of("external-s3", "PersistentVolumeClaim") == []
    assert deployment_of("external-s3", "registry")["spec"]["replicas"] == 2


def test_the_service_monitor_scrapes_every_services_metrics_as_its_job() -> None:
    (monitor,) = objects_of("defaults", "ServiceMonitor")
    assert monitor["spec"]["endpoints"] == [{"port": "http", "path": "/metrics", "interval": "15s"}]
    # job = the component label (ingest ... monitor), the job names of prometheus.yml.
    assert monitor["spec"]["jobLabel"] == "app.kubernetes.io/component"
    selected = monitor["spec"]["selector"]["matchLabels"].items()
    services = objects_of("defaults", "Service")
    assert len(services) == len(SERVICES)
    assert all(selected <= svc["metadata"]["labels"].items() for svc in services)


def test_the_charts_rule_and_dashboard_files_are_copies_of_deploys() -> None:
    """The chart cannot read outside itself, so it carries copies: refresh them with
    cp deploy/prometheus/rules/*.yml deploy/helm/mlbus/files/prometheus/rules/ and
    cp deploy/grafana/dashboards/*.json deploy/helm/mlbus/files/grafana/dashboards/"""
    for source, copy in (
        (ROOT / "deploy/prometheus/rules", CHART / "files/prometheus/rules"),
        (ROOT / "deploy/grafana/dashboards", CHART / "files/grafana/dashboards"),
    ):
        originals = {path.name: path.read_bytes() for path in source.iterdir()}
        copies = {path.name: path.read_bytes() for path in copy.iterdir()}
        assert copies == originals, f"{copy} differs from {source}"


def test_the_prometheus_rule_carries_deploys_alert_rules() -> None:
    (rule,) = objects_of("defaults", "PrometheusRule")
    groups = [
        group
        for path in sorted((ROOT / "deploy/prometheus/rules").glob("*.yml"))
        for group in yaml.safe_load(path.read_text())["groups"]
    ]
    assert groups
    assert rule["spec"]["groups"] == groups


def test_the_dashboard_config_map_is_deploys_dashboard_for_the_grafana_sidecar() -> None:
    (config_map,) = [
        obj for obj in objects_of("defaults", "ConfigMap") if "mlbus.json" in obj["data"]
    ]
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    original = json.loads((ROOT / "deploy/grafana/dashboards/mlbus.json").read_text())
    assert json.loads(config_map["data"]["mlbus.json"]) == original


def test_the_dashboard_points_at_the_clusters_prometheus_data_source() -> None:
    result = template(*values_args("defaults", "--set", "grafanaDashboard.datasourceUid=prom"))
    assert result.returncode == 0, result.stderr
    (config_map,) = [
        obj
        for obj in yaml.safe_load_all(result.stdout)
        if obj and obj["kind"] == "ConfigMap" and "mlbus.json" in obj["data"]
    ]
    text = config_map["data"]["mlbus.json"]
    assert "mlbus-prometheus" not in text
    assert '"uid": "prom"' in text
    json.loads(text)


def test_monitoring_objects_can_be_left_out() -> None:
    kinds = {obj["kind"] for obj in rendered("minimal-resources")}
    assert not kinds & {"ServiceMonitor", "PrometheusRule", "PodDisruptionBudget"}
    config_maps = objects_of("minimal-resources", "ConfigMap")
    assert all("mlbus.json" not in obj["data"] for obj in config_maps)


@pytest.mark.parametrize(
    ("unset", "message"),
    [
        ("kafka.bootstrapServers", "kafka.bootstrapServers is required"),
        ("postgresql.host", "postgresql.host is required"),
        ("secret.registryToken", "secret.registryToken is required"),
        ("secret.postgresqlPassword", "secret.postgresqlPassword is required"),
    ],
)
def test_a_missing_required_value_stops_the_render_and_names_it(unset: str, message: str) -> None:
    result = template(*values_args("defaults", "--set", f"{unset}="))
    assert result.returncode != 0
    assert message in result.stderr


def test_a_setting_the_chart_owns_cannot_be_overridden() -> None:
    result = template(*values_args("defaults", "--set", "services.trainer.settings.port=9000"))
    assert result.returncode != 0
    assert "services.trainer.settings.port is set by the chart" in result.stderr


def test_promtool_accepts_the_prometheus_rules_groups(tmp_path: Path) -> None:
    """The PrometheusRule's groups, as a rule file, load in Prometheus's own checker."""
    (rule,) = objects_of("defaults", "PrometheusRule")
    rule_file = tmp_path / "rules.yml"
    rule_file.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail(
            "`promtool` is missing: apt-get install prometheus (scripts/install-ci-deps.sh)"
        )
    result = subprocess.run(
        [promtool, "check", "rules", str(rule_file)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_packaged_chart_renders_as_the_chart_directory(tmp_path: Path) -> None:
    """`helm package` keeps files/ (the rules and the dashboard) inside the archive."""
    packaged = helm("package", str(CHART), "--destination", str(tmp_path))
    assert packaged.returncode == 0, packaged.stderr
    (archive,) = tmp_path.glob("mlbus-*.tgz")
    from_archive = helm(
        "template", "mlbus", str(archive), "--namespace", "mlbus", "--kube-version", KUBE_VERSION,
        *values_args("defaults"),
    )  # fmt: skip
    assert from_archive.returncode == 0, from_archive.stderr
    assert tuple(doc for doc in yaml.safe_load_all(from_archive.stdout) if doc) == rendered(
        "defaults"
    )


def test_bucket_keys_can_come_from_a_pod_identity_instead_of_the_secret() -> None:
    result = template(
        *values_args("external-s3", "--set", "artifacts.s3.credentialsFromSecret=false")
    )
    assert result.returncode == 0, result.stderr
    docs = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    (secret,) = [doc for doc in docs if doc["kind"] == "Secret"]
    assert not {"s3-access-key-id", "s3-secret-access-key"} & secret["stringData"].keys()
    (registry,) = [
        doc
        for doc in docs
        if doc["kind"] == "Deployment"
        and doc["metadata"]["labels"]["app.kubernetes.io/component"] == "registry"
    ]
    names = {item["name"] for item in container_of(registry)["env"]}
    assert "MLBUS_REGISTRY_S3_BUCKET" in names
    assert not {"MLBUS_REGISTRY_S3_ACCESS_KEY_ID", "MLBUS_REGISTRY_S3_SECRET_ACCESS_KEY"} & names


def test_pods_run_as_the_releases_account_which_a_cloud_role_can_annotate() -> None:
    """With the bucket's keys from a pod identity (IRSA here), the role is on the account."""
    role = "arn:aws:iam::123456789012:role/mlbus-artifacts"
    result = template(
        *values_args("external-s3", "--set", "artifacts.s3.credentialsFromSecret=false"),
        "--set-string", f"serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn={role}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    docs = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    (account,) = [doc for doc in docs if doc["kind"] == "ServiceAccount"]
    assert account["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": role}
    assert account["automountServiceAccountToken"] is False
    for deployment in [doc for doc in docs if doc["kind"] == "Deployment"]:
        pod = deployment["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == account["metadata"]["name"]
        assert pod["automountServiceAccountToken"] is False
        assert pod["terminationGracePeriodSeconds"] == 30


def test_an_existing_service_account_is_used_as_named() -> None:
    result = template(
        *values_args("defaults", "--set", "serviceAccount.create=false"),
        "--set", "serviceAccount.name=mlbus-workloads",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    docs = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    assert not [doc for doc in docs if doc["kind"] == "ServiceAccount"]
    accounts = {
        doc["spec"]["template"]["spec"]["serviceAccountName"]
        for doc in docs
        if doc["kind"] == "Deployment"
    }
    assert accounts == {"mlbus-workloads"}


def test_a_service_can_be_placed_on_nodes_of_its_own() -> None:
    """The predictor's nodeSelector and tolerations replace the global ones; annotations add."""
    result = template(
        *values_args("defaults", "--set", "nodeSelector.pool=general"),
        "--set", "services.predictor.nodeSelector.pool=compute",
        "--set", "services.predictor.tolerations[0].key=compute",
        "--set", "services.predictor.tolerations[0].effect=NoSchedule",
        "--set", "podAnnotations.team=ml",
        "--set", "services.predictor.podAnnotations.tier=serving",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    pods = {
        doc["metadata"]["labels"]["app.kubernetes.io/component"]: doc["spec"]["template"]
        for doc in yaml.safe_load_all(result.stdout)
        if doc and doc["kind"] == "Deployment"
    }
    predictor, trainer = pods["predictor"], pods["trainer"]
    assert predictor["spec"]["nodeSelector"] == {"pool": "compute"}
    assert predictor["spec"]["tolerations"] == [{"key": "compute", "effect": "NoSchedule"}]
    assert trainer["spec"]["nodeSelector"] == {"pool": "general"}
    assert "tolerations" not in trainer["spec"]
    annotations = predictor["metadata"]["annotations"]
    assert (annotations["team"], annotations["tier"]) == ("ml", "serving")
    assert trainer["metadata"]["annotations"]["team"] == "ml"
    assert "tier" not in trainer["metadata"]["annotations"]
