"""The deployment files, read by their validators offline: the Kubernetes manifests against
the API schemas kubernetes-validate ships, strictly (an unknown field is an error)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.databases import ROOT

K8S = ROOT / "deploy" / "k8s"
KUBERNETES = "1.30.0"


def _documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _every_document() -> list[dict[str, Any]]:
    return [d for path in sorted(K8S.glob("*.yaml")) for d in _documents(path)]


@pytest.mark.parametrize("path", sorted(K8S.glob("*.yaml")), ids=lambda p: p.name)
def test_each_manifest_is_valid_kubernetes(path: Path) -> None:
    for document in _documents(path):
        kubernetes_validate.validate(document, KUBERNETES, strict=True)


def test_the_manifests_deploy_the_whole_service() -> None:
    kinds = {(d["kind"], d["metadata"]["name"]) for d in _every_document()}
    assert {
        ("Deployment", "portfolio-api"), ("Deployment", "portfolio-worker"),
        ("Deployment", "portfolio-scheduler"), ("Service", "portfolio"),
        ("ConfigMap", "portfolio"), ("Secret", "portfolio"),
        ("HorizontalPodAutoscaler", "portfolio-api"), ("PodDisruptionBudget", "portfolio-api"),
        ("Job", "portfolio-migrate"), ("Job", "portfolio-first-key"),
    } <= kinds  # fmt: skip
    config = next(d for d in _every_document() if d["kind"] == "ConfigMap")
    assert config["data"]["PORTFOLIO_AUTH_ENABLED"] == "true"


def test_every_pod_runs_as_non_root_with_resources_and_the_api_has_its_probes() -> None:
    pods = {
        d["metadata"]["name"]: d["spec"]["template"]["spec"]
        for d in _every_document()
        if d["kind"] in ("Deployment", "Job")
    }
    for name, pod in pods.items():
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        for container in pod["containers"]:
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, name
            assert container["resources"]["requests"], name
            assert container["resources"]["limits"]["memory"], name
    (api,) = pods["portfolio-api"]["containers"]
    assert api["livenessProbe"]["httpGet"]["path"] == "/api/v1/health/live"
    assert api["readinessProbe"]["httpGet"]["path"] == "/api/v1/health/ready"
    assert api["startupProbe"]["httpGet"]["path"] == "/api/v1/health/live"
    scheduler = next(d for d in _every_document() if d["metadata"]["name"] == "portfolio-scheduler")
    assert scheduler["spec"]["replicas"] == 1


def test_a_manifest_with_a_misspelt_field_is_refused() -> None:
    (deployment, *_) = _documents(K8S / "api.yaml")
    deployment["spec"]["replica"] = 2
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES, strict=True)
