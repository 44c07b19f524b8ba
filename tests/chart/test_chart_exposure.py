"""What reaches the services from outside: the Ingress (POST /predict and POST /records
exactly, on the routes the predictor and ingest really serve, nothing else) and the
NetworkPolicy (the release's own pods and the listed peers)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from services.ingest.app import create_app as ingest_app
from services.predictor.app import create_app as predictor_app
from tests.chart.chart_tools import component_of, objects_of


def _post_paths(app: FastAPI) -> set[str]:
    """The app's POST routes, as its OpenAPI document lists them."""
    return {path for path, operations in app.openapi()["paths"].items() if "post" in operations}


def _served_paths() -> dict[str, set[str]]:
    """The POST routes of the predictor's and ingest's apps, as they are built to run."""
    return {"predictor": _post_paths(predictor_app()), "ingest": _post_paths(ingest_app())}


def _backends(ingress: dict[str, Any]) -> dict[str, str]:
    (rule,) = ingress["spec"]["rules"]
    assert {path["pathType"] for path in rule["http"]["paths"]} == {"Exact"}
    return {path["path"]: path["backend"]["service"]["name"] for path in rule["http"]["paths"]}


def test_the_ingress_routes_exactly_the_client_apis_to_their_services() -> None:
    (ingress,) = objects_of("replicated-kafka", "Ingress")
    services = {
        svc["metadata"]["name"]: (component_of(svc), svc["spec"]["ports"][0]["name"])
        for svc in objects_of("replicated-kafka", "Service")
    }
    served = _served_paths()
    for path, backend in _backends(ingress).items():
        component, port = services[backend]
        assert path in served[component], f"{component} serves no POST {path}"
        assert port == "http"
    assert set(_backends(ingress)) == {"/predict", "/records"}


def test_the_ingress_serves_its_host_over_tls_and_is_off_by_default() -> None:
    (ingress,) = objects_of("replicated-kafka", "Ingress")
    assert ingress["spec"]["tls"] == [
        {"hosts": ["mlbus.example.com"], "secretName": "mlbus-example-tls"}
    ]
    assert ingress["spec"]["rules"][0]["host"] == "mlbus.example.com"
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert objects_of("defaults", "Ingress") == []


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return selector.items() <= labels.items()


def test_the_network_policy_admits_the_release_and_the_listed_peers_to_every_port() -> None:
    (policy,) = objects_of("replicated-kafka", "NetworkPolicy")
    selector = policy["spec"]["podSelector"]["matchLabels"]
    (rule,) = policy["spec"]["ingress"]
    own, *peers = rule["from"]
    for deployment in objects_of("replicated-kafka", "Deployment"):
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert _selects(selector, pod_labels), "the policy covers every pod"
        assert _selects(own["podSelector"]["matchLabels"], pod_labels), "pods reach each other"
    ports = {port["port"] for port in rule["ports"]}
    assert ports == {
        svc["spec"]["ports"][0]["port"] for svc in objects_of("replicated-kafka", "Service")
    }
    namespaces = [peer["namespaceSelector"]["matchLabels"] for peer in peers]
    assert [ns["kubernetes.io/metadata.name"] for ns in namespaces] == [
        "monitoring",
        "ingress-nginx",
    ]
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    assert objects_of("defaults", "NetworkPolicy") == []
