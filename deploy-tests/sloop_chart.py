"""Rendering the sloop chart and checking what comes out, without a cluster.

Helm runs in-process through helm-python-sdk (`helm_python`), which binds Helm's
Go SDK; Kubernetes schemas come from kubernetes-validate.
"""

from __future__ import annotations

import copy
import os
import subprocess
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import yaml

REPO = Path(__file__).resolve().parent.parent
CHART = REPO / "charts" / "sloop"
EXAMPLES = CHART / "examples"
SLOOP = REPO / "target" / "debug" / "sloop"

# The Kubernetes version the manifests must be valid for (the chart's
# kubeVersion allows >= 1.25; 1.30 is the oldest minor still commonly run).
KUBE_VERSION = "1.30.0"

# Prometheus Operator kinds. kubernetes-validate ships only the core API's
# schemas, so these cannot be schema-checked; check_monitoring_object checks
# their structure instead.
MONITORING_API = "monitoring.coreos.com/v1"
CRD_KINDS = {"ServiceMonitor", "PrometheusRule"}

WORKLOAD_KINDS = {"Deployment", "DaemonSet", "StatefulSet"}
MODES = ["daemonset", "deployment", "statefulset"]

# Environment for `sloop validate` of a rendered config: what the downward API
# gives a pod (the config's ${env:K8S_*} must expand).
POD_ENV = {
    "K8S_POD_IP": "127.0.0.1",
    "K8S_POD_NAME": "sloop-0",
    "K8S_NAMESPACE_NAME": "observability",
    "K8S_NODE_NAME": "node-1",
}


def example_values(name: str) -> dict[str, Any]:
    """A values file from charts/sloop/examples, e.g. "gateway"."""
    with open(EXAMPLES / f"{name}-values.yaml") as f:
        return yaml.safe_load(f)


def render(
    values: dict[str, Any] | None = None,
    *,
    release: str = "sloop",
    namespace: str = "observability",
) -> list[dict[str, Any]]:
    """Every object the chart renders with these values (like `helm template`).

    Raises helm_python.HelmValuesError when the values break values.schema.json.
    """
    with helm.Chart.load(CHART) as chart:
        manifests = chart.render(
            copy.deepcopy(values or {}), name=release, namespace=namespace
        )
    objects = []
    for path in sorted(manifests):
        if not path.endswith(".yaml"):
            continue  # NOTES.txt
        for doc in yaml.safe_load_all(manifests[path]):
            if doc:
                objects.append(doc)
    return objects


def lint(values: dict[str, Any] | None = None) -> dict[str, Any]:
    """`helm lint --strict --kube-version` of the chart with these values."""
    return helm.lint(
        CHART, copy.deepcopy(values or {}), strict=True, kube_version="v" + KUBE_VERSION
    )


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = of_kind(objects, kind)
    assert len(found) == 1, f"expected one {kind}, got {[o['metadata']['name'] for o in found]}"
    return found[0]


def workload(objects: list[dict[str, Any]]) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] in WORKLOAD_KINDS]
    assert len(found) == 1, f"expected one workload, got {[o['kind'] for o in found]}"
    return found[0]


def container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    containers = workload(objects)["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def config_text(objects: list[dict[str, Any]]) -> str:
    """The sloop config file the ConfigMap carries."""
    return one(objects, "ConfigMap")["data"]["config.yaml"]


def config(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return yaml.safe_load(config_text(objects))


def validate_strictly(obj: dict[str, Any]) -> None:
    """Schema-validate one object for KUBE_VERSION, unknown fields rejected."""
    if obj["apiVersion"] == MONITORING_API and obj["kind"] in CRD_KINDS:
        check_monitoring_object(obj)
        return
    kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)


def check_monitoring_object(obj: dict[str, Any]) -> None:
    """The structure the Prometheus Operator's CRDs require of the two kinds."""
    assert set(obj) == {"apiVersion", "kind", "metadata", "spec"}, obj.keys()
    assert obj["metadata"]["name"]
    labels = obj["metadata"].get("labels", {})
    assert all(isinstance(v, str) for v in labels.values()), labels
    spec = obj["spec"]
    if obj["kind"] == "ServiceMonitor":
        assert set(spec) <= {"selector", "endpoints", "namespaceSelector", "jobLabel"}, spec
        assert set(spec["selector"]) <= {"matchLabels", "matchExpressions"}
        assert spec["endpoints"], "a ServiceMonitor needs endpoints"
        for endpoint in spec["endpoints"]:
            assert isinstance(endpoint.get("port"), str), endpoint
    else:
        assert set(spec) == {"groups"}, spec
        assert isinstance(spec["groups"], list)
        for group in spec["groups"]:
            assert isinstance(group["name"], str) and isinstance(group["rules"], list), group
            for rule in group["rules"]:
                assert isinstance(rule["expr"], str), rule
                assert ("record" in rule) != ("alert" in rule), rule


def sloop_validate(text: str, tmp_path: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Runs the real `sloop validate --config FILE` on a config text."""
    assert SLOOP.is_file(), f"{SLOOP} is missing: run `cargo build --bin sloop` (scripts/test does)"
    path = tmp_path / "config.yaml"
    path.write_text(text)
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("K8S_", "SLOOP_"))}
    full_env.update(POD_ENV if env is None else env)
    return subprocess.run(
        [SLOOP, "validate", "--config", path],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def has_loadbalancing_exporter(cfg: dict[str, Any]) -> bool:
    return any(
        i == "load_balancing" or i.startswith("load_balancing/") for i in cfg.get("exporters") or {}
    )
