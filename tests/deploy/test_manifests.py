"""The deployment files, read by their validators offline: the Kubernetes manifests, as
`kubectl kustomize` builds them (kubectl from the locked development dependencies), against the
API schemas kubernetes-validate ships, strictly (an unknown field is an error); the Prometheus
Operator's objects against the schemas of @kubernetes-models/prometheus-operator (tools/)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
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


MANIFESTS = sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def _every_document() -> list[dict[str, Any]]:
    return [d for path in MANIFESTS for d in _documents(path)]


def _kustomized(folder: Path) -> list[dict[str, Any]]:
    kubectl = Path(sys.executable).with_name("kubectl")
    assert kubectl.exists(), "kubectl comes with the development dependencies (make install-dev)"
    built = subprocess.run(
        [str(kubectl), "kustomize", str(folder)], capture_output=True, text=True, check=False
    )
    assert built.returncode == 0, built.stderr
    return [d for d in yaml.safe_load_all(built.stdout) if d]


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_each_manifest_is_valid_kubernetes(path: Path) -> None:
    for document in _documents(path):
        kubernetes_validate.validate(document, KUBERNETES, strict=True)


def test_the_kustomization_builds_every_manifest_but_the_example_secret() -> None:
    built = _kustomized(K8S)
    for document in built:
        kubernetes_validate.validate(document, KUBERNETES, strict=True)
        assert document["metadata"]["labels"]["app.kubernetes.io/part-of"] == "portfolio"
    expected = {(d["kind"], d["metadata"]["name"]) for d in _every_document()}
    assert {(d["kind"], d["metadata"]["name"]) for d in built} == expected - {
        ("Secret", "portfolio")
    }


def _monitoring_errors(documents: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    assert node, "Node.js runs the tools (make tools)"
    return subprocess.run(
        [node, str(ROOT / "tools" / "validate_monitoring.mjs")],
        input=json.dumps(documents), capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_the_prometheus_operator_objects_are_valid_and_hold_the_alert_rules() -> None:
    built = _kustomized(K8S / "monitoring")
    assert {d["kind"] for d in built} == {"ServiceMonitor", "PodMonitor", "PrometheusRule"}
    checked = _monitoring_errors(built)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    (rule,) = [d for d in built if d["kind"] == "PrometheusRule"]
    alerts = yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerts.yml").read_text())
    assert rule["spec"]["groups"] == alerts["groups"], "run python scripts/prometheus_rule.py"
    broken = json.loads(json.dumps(built))
    monitor = next(d for d in broken if d["kind"] == "ServiceMonitor")
    monitor["spec"]["endpoints"][0]["scheme"] = "gopher"
    refused = _monitoring_errors(broken)
    assert refused.returncode == 1
    assert "ServiceMonitor/portfolio-api" in refused.stdout


def test_secrets_are_files_replicas_belong_to_the_autoscaler_and_jobs_to_releases() -> None:
    """Every pod mounts the Secret as files where the ConfigMap's PORTFOLIO_SECRETS_DIR says
    and takes none of it as variables; the API Deployment leaves its count to the HPA; the
    worker and the scheduler are probed on the metrics port they serve; the migration Job's
    name carries the release (the image's tag), so that the next release's is a new Job."""
    from portfolio import __version__

    documents = _every_document()
    config = next(d for d in documents if d["kind"] == "ConfigMap")
    folder = config["data"]["PORTFOLIO_SECRETS_DIR"]
    for document in documents:
        if document["kind"] not in ("Deployment", "Job"):
            continue
        pod = document["spec"]["template"]["spec"]
        (secret,) = [v for v in pod["volumes"] if "secret" in v]
        assert secret["secret"]["secretName"] == "portfolio"
        for container in pod["containers"]:
            assert all("secretRef" not in e for e in container.get("envFrom", []))
            assert {"name": secret["name"], "mountPath": folder, "readOnly": True} in container[
                "volumeMounts"
            ]
            assert container["image"] == f"portfolio:{__version__}"
    hpa = next(d for d in documents if d["kind"] == "HorizontalPodAutoscaler")
    target = next(
        d for d in documents if d["metadata"]["name"] == hpa["spec"]["scaleTargetRef"]["name"]
    )
    assert "replicas" not in target["spec"]
    for name in ("portfolio-worker", "portfolio-scheduler"):
        (container,) = next(d for d in documents if d["metadata"]["name"] == name)["spec"][
            "template"
        ]["spec"]["containers"]
        env = {e["name"]: e["value"] for e in container["env"]}
        (port,) = container["ports"]
        assert int(env["PORTFOLIO_WORKER_METRICS_PORT"]) == port["containerPort"]
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            assert container[probe]["httpGet"] == {"path": "/metrics", "port": port["name"]}
    jobs = [d["metadata"]["name"] for d in documents if d["kind"] == "Job"]
    assert f"portfolio-migrate-{__version__.replace('.', '-')}" in jobs
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert kustomization["images"] == [{"name": "portfolio", "newTag": __version__}]


def test_network_policies_admit_only_the_served_ports() -> None:
    policies = {d["metadata"]["name"]: d["spec"] for d in _every_document()
                if d["kind"] == "NetworkPolicy"}  # fmt: skip
    assert policies["portfolio-api"]["ingress"] == [{"ports": [{"protocol": "TCP", "port": 8000}]}]
    assert policies["portfolio-metrics"]["ingress"] == [
        {"ports": [{"protocol": "TCP", "port": 9000}]}
    ]
    assert policies["portfolio-jobs"]["ingress"] == []


def test_the_manifests_deploy_the_whole_service() -> None:
    kinds = {(d["kind"], d["metadata"]["name"]) for d in _every_document()}
    assert {
        ("Deployment", "portfolio-api"), ("Deployment", "portfolio-worker"),
        ("Deployment", "portfolio-scheduler"), ("Service", "portfolio"),
        ("ConfigMap", "portfolio"), ("Secret", "portfolio"),
        ("HorizontalPodAutoscaler", "portfolio-api"), ("PodDisruptionBudget", "portfolio-api"),
        ("Job", "portfolio-migrate-0-3-0"), ("Job", "portfolio-first-key"),
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
