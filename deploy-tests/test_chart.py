"""The Helm chart in charts/sloop, rendered and checked without a cluster.

Every mode and a few value combinations are linted (helm lint --strict), rendered
(helm template), schema-validated in strict mode against Kubernetes 1.30, and the
rendered objects are checked for what the chart promises: the config validates
with the real sloop binary, probes hit the health_check extension, the state
volume is where the slo processors write, and so on.
"""

from __future__ import annotations

import posixpath
from typing import Any

import helm_python as helm
import pytest
import yaml

from sloop_chart import (
    CRD_KINDS,
    MODES,
    MONITORING_API,
    REPO,
    WORKLOAD_KINDS,
    config,
    config_text,
    container,
    example_values,
    has_loadbalancing_exporter,
    lint,
    of_kind,
    one,
    render,
    sloop_validate,
    validate_strictly,
    workload,
)

# A PrometheusRule group as `sloop rules` writes them (shape only).
RULE_GROUPS = [
    {
        "name": "sloop-slo-checkout-availability",
        "rules": [
            {
                "record": "slo:sli_error:ratio_rate5m",
                "expr": 'sum(rate(slo_events_total{slo_name="checkout-availability",slo_outcome="bad"}[5m]))'
                ' / sum(rate(slo_events_total{slo_name="checkout-availability"}[5m]))',
                "labels": {"sloth_slo": "checkout-availability"},
            },
            {
                "alert": "SloopErrorBudgetBurn",
                "expr": "slo:sli_error:ratio_rate5m > 14.4 * 0.005",
                "for": "2m",
                "labels": {"severity": "page"},
            },
        ],
    }
]

# An slo processor without `storage`: the chart must put its state on the volume.
SLO_CONFIG = {
    "processors": {
        "sli": {"slis": [{"name": "checkout", "when": 'name == "POST /checkout"', "good": "status.code != STATUS_CODE_ERROR"}]},
        "slo": {"objectives": [{"name": "checkout-availability", "sli": "checkout", "target": 0.995}]},
    },
    "service": {
        "pipelines": {
            "traces": {"receivers": ["otlp"], "processors": ["sli", "slo", "batch"], "exporters": ["debug"]},
        }
    },
}

ALL_ON = {
    "podDisruptionBudget": {"enabled": True},
    "serviceMonitor": {"enabled": True, "extraLabels": {"release": "kube-prometheus"}},
    "prometheusRule": {"enabled": True, "groups": RULE_GROUPS, "extraLabels": {"release": "kube-prometheus"}},
}

# Values passed through to the pod spec.
POD_SETTINGS = {
    "extraEnvs": [{"name": "VENDOR_API_KEY", "valueFrom": {"secretKeyRef": {"name": "vendor", "key": "api-key"}}}],
    "extraVolumes": [{"name": "ca", "secret": {"secretName": "vendor-ca"}}],
    "extraVolumeMounts": [{"name": "ca", "mountPath": "/etc/ssl/vendor", "readOnly": True}],
    "nodeSelector": {"kubernetes.io/os": "linux"},
    "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "observability", "effect": "NoSchedule"}],
    "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64", "arm64"]}]}]}}},
    "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                                   "whenUnsatisfiable": "ScheduleAnyway",
                                   "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "sloop"}}}],
    "imagePullSecrets": [{"name": "registry"}],
    "priorityClassName": "observability",
    "podAnnotations": {"team": "sre"},
    "podLabels": {"tier": "gateway"},
    "command": {"extraArgs": ["--config", "/etc/sloop-extra/overlay.yaml"]},
}

# name -> values. Each is linted, rendered and strictly validated.
CASES: dict[str, dict[str, Any]] = {
    "daemonset": {"mode": "daemonset"},
    "deployment": {"mode": "deployment"},
    "statefulset": {"mode": "statefulset"},
    "deployment-autoscaling-pdb-monitoring": {
        "mode": "deployment",
        "autoscaling": {"enabled": True, "maxReplicas": 5, "targetMemoryUtilizationPercentage": 75},
        **ALL_ON,
    },
    "statefulset-slo-pdb-monitoring": {"mode": "statefulset", "replicaCount": 3, "config": SLO_CONFIG, **ALL_ON},
    "daemonset-monitoring-hostports": {
        "mode": "daemonset",
        "ports": {"otlp": {"hostPort": 4317}},
        "serviceMonitor": {"enabled": True},
        "prometheusRule": {"enabled": True, "groups": RULE_GROUPS},
    },
    "deployment-resource-detection-preset": {
        "mode": "deployment",
        "presets": {"resourceDetection": {"enabled": True, "pipelines": ["metrics"]}},
    },
    "deployment-pod-settings": {"mode": "deployment", **POD_SETTINGS},
    "example-agent": example_values("agent"),
    "example-gateway": example_values("gateway"),
}

# Every rendered config, the agent's load_balancing exporter included, must pass
# `sloop validate`.
VALIDATED_CASES = list(CASES)


@pytest.fixture(scope="module", params=list(CASES))
def case(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
    """(name, values, rendered objects) for each case."""
    values = CASES[request.param]
    release = "sloop-agent" if request.param == "example-agent" else "sloop-gateway"
    return request.param, values, render(values, release=release)


def test_lints_cleanly(case):
    name, values, _ = case
    report = lint(values)
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert not problems and not report["errors"], f"{name}: {report}"


def test_every_manifest_validates_strictly(case):
    name, _, objects = case
    assert objects, f"{name} rendered nothing"
    for obj in objects:
        validate_strictly(obj)


def test_one_workload_of_the_modes_kind(case):
    name, values, objects = case
    kind = {"daemonset": "DaemonSet", "deployment": "Deployment", "statefulset": "StatefulSet"}[values["mode"]]
    assert workload(objects)["kind"] == kind, name


@pytest.mark.parametrize("name", VALIDATED_CASES)
def test_config_validates_with_sloop(name, tmp_path):
    objects = render(CASES[name])
    text = config_text(objects)
    if name == "example-agent":
        # The agent's point is the load_balancing exporter; it must be there and valid.
        assert has_loadbalancing_exporter(yaml.safe_load(text))
    result = sloop_validate(text, tmp_path)
    assert result.returncode == 0, f"{name}: sloop validate failed:\n{result.stderr}\n{text}"


def test_config_expands_the_pod_ip_from_the_environment(tmp_path):
    """The receivers bind ${env:K8S_POD_IP}: without the variable the config is
    an error, so the chart's env and the config agree on its name."""
    objects = render({"mode": "deployment"})
    cfg = config(objects)
    for protocol, port in (("grpc", 4317), ("http", 4318)):
        assert cfg["receivers"]["otlp"]["protocols"][protocol]["endpoint"] == f"${{env:K8S_POD_IP}}:{port}"
    env_names = {e["name"] for e in container(objects)["env"]}
    assert "K8S_POD_IP" in env_names
    result = sloop_validate(config_text(objects), tmp_path, env={})
    assert result.returncode != 0 and "K8S_POD_IP" in result.stderr, result.stderr


def listeners(cfg: dict[str, Any]) -> dict[str, str]:
    """Every address the config listens on, by its key path."""
    found = {}
    for rid, receiver in (cfg.get("receivers") or {}).items():
        for protocol, settings in ((receiver or {}).get("protocols") or {}).items():
            if settings and "endpoint" in settings:
                found[f"receivers.{rid}.protocols.{protocol}.endpoint"] = settings["endpoint"]
    for eid, extension in (cfg.get("extensions") or {}).items():
        if extension and "endpoint" in extension:
            found[f"extensions.{eid}.endpoint"] = extension["endpoint"]
    metrics = ((cfg.get("service") or {}).get("telemetry") or {}).get("metrics") or {}
    if "address" in metrics:
        found["service.telemetry.metrics.address"] = metrics["address"]
    return found


def test_every_port_binds_the_pod_ip(case):
    """Nothing listens on 0.0.0.0: every receiver, the health check and the
    self-metrics / SLO status API bind the pod IP, or loopback for what only the
    pod itself talks to (issue 13)."""
    name, _, objects = case
    found = listeners(config(objects))
    assert "extensions.health_check.endpoint" in found and "service.telemetry.metrics.address" in found, found
    for path, address in found.items():
        assert address.startswith(("${env:K8S_POD_IP", "127.0.0.1:", "localhost:", "[::1]:")), (
            f"{name}: {path} binds {address}"
        )


def test_configmap_is_mounted_where_the_config_flag_points(case):
    _, _, objects = case
    args = container(objects)["args"]
    path = args[args.index("--config") + 1]
    directory, filename = posixpath.split(path)
    mounts = {m["mountPath"]: m["name"] for m in container(objects)["volumeMounts"]}
    assert directory in mounts, f"nothing mounted at {directory}: {mounts}"
    volumes = {v["name"]: v for v in workload(objects)["spec"]["template"]["spec"]["volumes"]}
    volume = volumes[mounts[directory]]
    configmap = one(objects, "ConfigMap")
    assert volume["configMap"]["name"] == configmap["metadata"]["name"]
    assert {"key": "config.yaml", "path": filename} in volume["configMap"]["items"]
    assert "config.yaml" in configmap["data"]


def test_probes_hit_the_health_check_extension(case):
    _, _, objects = case
    health_port = int(config(objects)["extensions"]["health_check"]["endpoint"].rsplit(":", 1)[1])
    assert "health_check" in config(objects)["service"]["extensions"]
    c = container(objects)
    assert c["livenessProbe"]["httpGet"] == {"path": "/livez", "port": health_port}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": health_port}
    assert health_port in {p["containerPort"] for p in c["ports"]}


def test_downward_api_env_for_resource_detection(case):
    _, _, objects = case
    env = {e["name"]: e for e in container(objects)["env"]}
    expected = {
        "K8S_POD_NAME": "metadata.name",
        "K8S_NAMESPACE_NAME": "metadata.namespace",
        "K8S_NODE_NAME": "spec.nodeName",
        "K8S_POD_IP": "status.podIP",
    }
    for name, field in expected.items():
        assert env[name]["valueFrom"]["fieldRef"]["fieldPath"] == field, name


def test_security_context_is_locked_down(case):
    _, _, objects = case
    c = container(objects)["securityContext"]
    assert c["runAsNonRoot"] is True
    assert c["readOnlyRootFilesystem"] is True
    assert c["allowPrivilegeEscalation"] is False
    assert c["capabilities"]["drop"] == ["ALL"]
    assert c["seccompProfile"]["type"] == "RuntimeDefault"
    pod = workload(objects)["spec"]["template"]["spec"]["securityContext"]
    assert pod["runAsNonRoot"] is True and pod["runAsUser"] != 0
    assert pod["seccompProfile"]["type"] == "RuntimeDefault"


def test_resources_have_defaults():
    c = container(render({"mode": "deployment"}))
    assert c["resources"]["requests"]["cpu"] and c["resources"]["requests"]["memory"]
    assert c["resources"]["limits"]["memory"]


def test_services_reach_the_pods_ports(case):
    _, _, objects = case
    pod_labels = workload(objects)["spec"]["template"]["metadata"]["labels"]
    port_names = {p["name"] for p in container(objects)["ports"]}
    services = of_kind(objects, "Service")
    assert services
    for service in services:
        assert service["spec"]["selector"].items() <= pod_labels.items(), service["metadata"]["name"]
        ports = {p["name"]: p for p in service["spec"]["ports"]}
        assert {"otlp", "otlp-http"} <= ports.keys()
        assert ports["otlp"]["port"] == 4317 and ports["otlp-http"]["port"] == 4318
        for port in ports.values():
            assert port["targetPort"] in port_names


@pytest.mark.parametrize("mode", ["deployment", "statefulset"])
def test_gateway_modes_have_a_headless_service(mode):
    objects = render({"mode": mode}, release="sloop-gateway")
    headless = [s for s in of_kind(objects, "Service") if s["spec"].get("clusterIP") == "None"]
    assert [s["metadata"]["name"] for s in headless] == ["sloop-gateway-headless"]
    assert 4317 in {p["port"] for p in headless[0]["spec"]["ports"]}
    if mode == "statefulset":
        assert workload(objects)["spec"]["serviceName"] == "sloop-gateway-headless"


def test_daemonset_routes_to_the_local_agent():
    objects = render({"mode": "daemonset", "ports": {"otlp": {"hostPort": 4317}}})
    services = of_kind(objects, "Service")
    assert [s["spec"].get("clusterIP") for s in services] == [None], "no headless Service for agents"
    assert services[0]["spec"]["internalTrafficPolicy"] == "Local"
    ports = {p["name"]: p for p in container(objects)["ports"]}
    assert ports["otlp"]["hostPort"] == 4317 and "hostPort" not in ports["otlp-http"]


def test_statefulset_keeps_slo_state_on_its_volume_claim():
    values = {"mode": "statefulset", "config": SLO_CONFIG}
    objects = render(values)
    sts = workload(objects)
    claims = {t["metadata"]["name"]: t for t in sts["spec"]["volumeClaimTemplates"]}
    assert claims["data"]["spec"]["resources"]["requests"]["storage"] == "1Gi"
    assert claims["data"]["spec"]["accessModes"] == ["ReadWriteOnce"]
    mount = next(m for m in container(objects)["volumeMounts"] if m["name"] == "data")
    assert mount["mountPath"] == "/var/lib/sloop"
    # The claim, not a pod volume, provides "data".
    assert "data" not in {v["name"] for v in sts["spec"]["template"]["spec"]["volumes"]}
    storage = config(objects)["processors"]["slo"]["storage"]
    assert storage == "/var/lib/sloop/slo"


def test_gateway_example_keeps_slo_state_on_its_volume_claim():
    objects = render(example_values("gateway"), release="sloop-gateway")
    sts = workload(objects)
    assert sts["kind"] == "StatefulSet"
    assert [t["metadata"]["name"] for t in sts["spec"]["volumeClaimTemplates"]] == ["data"]
    mount = next(m for m in container(objects)["volumeMounts"] if m["name"] == "data")
    storage = config(objects)["processors"]["slo"]["storage"]
    assert storage.startswith(mount["mountPath"].rstrip("/") + "/"), (storage, mount)


def test_every_slo_processor_gets_its_own_state_directory():
    cfg = {
        "processors": {**SLO_CONFIG["processors"], "slo/kept": {"storage": "/custom", "objectives": []}},
    }
    processors = config(render({"mode": "deployment", "persistence": {"mountPath": "/state"}, "config": cfg}))["processors"]
    assert processors["slo"]["storage"] == "/state/slo"
    assert processors["slo/kept"]["storage"] == "/custom", "an explicit storage is left alone"


def test_other_modes_mount_an_emptydir_for_state():
    for mode in ("deployment", "daemonset"):
        objects = render({"mode": mode})
        volumes = {v["name"]: v for v in workload(objects)["spec"]["template"]["spec"]["volumes"]}
        assert volumes["data"] == {"name": "data", "emptyDir": {}}, mode
        assert "volumeClaimTemplates" not in workload(objects)["spec"]


def test_a_config_change_rolls_the_pods():
    def checksum(values):
        return workload(render(values))["spec"]["template"]["metadata"]["annotations"]["checksum/config"]

    base = checksum({"mode": "deployment"})
    assert base == checksum({"mode": "deployment"}), "the checksum must be stable"
    changed = checksum({"mode": "deployment", "config": {"processors": {"batch": {"timeout": "1s"}}}})
    assert changed != base
    # Derived config counts too: moving the state directory changes the file.
    moved = checksum({"mode": "statefulset", "config": SLO_CONFIG, "persistence": {"mountPath": "/data"}})
    assert moved != checksum({"mode": "statefulset", "config": SLO_CONFIG})


@pytest.mark.parametrize("mode", MODES)
def test_autoscaler_only_in_deployment_mode(mode):
    objects = render({"mode": mode, "autoscaling": {"enabled": True, "minReplicas": 2, "maxReplicas": 6}})
    hpas = of_kind(objects, "HorizontalPodAutoscaler")
    if mode != "deployment":
        assert hpas == []
        return
    (hpa,) = hpas
    target = workload(objects)
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": target["metadata"]["name"]}
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 6)
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    assert "replicas" not in target["spec"], "the HPA owns the replica count"


def test_replicas_without_autoscaling():
    assert workload(render({"mode": "deployment", "replicaCount": 4}))["spec"]["replicas"] == 4


@pytest.mark.parametrize("mode", MODES)
def test_pod_disruption_budget(mode):
    objects = render({"mode": mode, "podDisruptionBudget": {"enabled": True, "minAvailable": 2}})
    pdbs = of_kind(objects, "PodDisruptionBudget")
    if mode == "daemonset":
        assert pdbs == [], "node drains skip DaemonSet pods; a PDB would only confuse"
        return
    (pdb,) = pdbs
    assert pdb["spec"]["minAvailable"] == 2 and "maxUnavailable" not in pdb["spec"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= workload(objects)["spec"]["template"]["metadata"]["labels"].items()
    assert of_kind(render({"mode": mode}), "PodDisruptionBudget") == [], "off by default"


def test_service_monitor_scrapes_self_metrics_once():
    objects = render({"mode": "statefulset", "serviceMonitor": {"enabled": True, "extraLabels": {"release": "prom"}}})
    monitor = one(objects, "ServiceMonitor")
    assert monitor["apiVersion"] == MONITORING_API
    assert monitor["metadata"]["labels"]["release"] == "prom"
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["metrics"]
    metrics_port = int(config(objects)["service"]["telemetry"]["metrics"]["address"].rsplit(":", 1)[1])

    def selected(service):
        labels = service["metadata"]["labels"]
        selector = monitor["spec"]["selector"]
        if not selector["matchLabels"].items() <= labels.items():
            return False
        for expression in selector.get("matchExpressions", []):
            assert expression["operator"] == "DoesNotExist"
            if expression["key"] in labels:
                return False
        return True

    services = [s for s in of_kind(objects, "Service") if selected(s)]
    assert [s["spec"].get("clusterIP") for s in services] == [None], "exactly the non-headless Service"
    ports = {p["name"]: p["port"] for p in services[0]["spec"]["ports"]}
    assert ports["metrics"] == metrics_port == 8888
    assert of_kind(render({"mode": "statefulset"}), "ServiceMonitor") == [], "off by default"


def test_prometheus_rule_carries_the_groups_verbatim():
    objects = render({"prometheusRule": {"enabled": True, "groups": RULE_GROUPS, "extraLabels": {"role": "alert-rules"}}})
    rule = one(objects, "PrometheusRule")
    assert rule["apiVersion"] == MONITORING_API
    assert rule["spec"] == {"groups": RULE_GROUPS}
    assert rule["metadata"]["labels"]["role"] == "alert-rules"
    assert of_kind(render({}), "PrometheusRule") == [], "off by default"


def test_resource_detection_preset_leads_the_named_pipelines():
    objects = render({"presets": {"resourceDetection": {"enabled": True, "pipelines": ["metrics"]}}})
    cfg = config(objects)
    assert cfg["processors"]["resource_detection/k8s"] == {"detectors": ["env", "k8s_downward"]}
    assert cfg["service"]["pipelines"]["metrics"]["processors"] == ["resource_detection/k8s", "batch"]
    assert cfg["service"]["pipelines"]["traces"]["processors"] == ["batch"]
    with pytest.raises(helm.HelmRenderError, match="not a pipeline"):
        render({"presets": {"resourceDetection": {"enabled": True, "pipelines": ["metric"]}}})


@pytest.mark.parametrize(
    "values",
    [
        {"mode": "bogus"},
        {"replicaCount": "3"},
        {"replicacount": 3},
        {"autoscaling": {"enabled": "yes"}},
        {"ports": {"otlp": {"enabled": True, "containerPort": 70000}}},
        {"persistence": {"mountPath": "relative/dir"}},
        {"prometheusRule": {"enabled": True, "groups": [{"rules": []}]}},
    ],
)
def test_schema_rejects_wrong_values(values):
    with pytest.raises(helm.HelmValuesError):
        render(values)
    assert [m for m in lint(values)["messages"] if m["severity"] == 3], "helm lint must report it too"


def test_gateway_example_is_the_k8s_gateway_pipeline():
    """charts/sloop/examples/gateway-values.yaml renders exactly
    pipelines/k8s-gateway.yaml (which the Rust tests validate too)."""
    with open(REPO / "pipelines" / "k8s-gateway.yaml") as f:
        pipeline = yaml.safe_load(f)
    assert config(render(example_values("gateway"), release="sloop-gateway")) == pipeline


def test_agent_example_is_the_k8s_agent_pipeline():
    """charts/sloop/examples/agent-values.yaml renders exactly
    pipelines/k8s-agent.yaml (which the Rust tests validate too)."""
    with open(REPO / "pipelines" / "k8s-agent.yaml") as f:
        pipeline = yaml.safe_load(f)
    assert config(render(example_values("agent"), release="sloop-agent")) == pipeline


def test_agent_sends_to_the_gateways_headless_service():
    """The agent's load_balancing exporter resolves the Service the gateway example
    renders, on its OTLP port, for every signal."""
    gateway = render(example_values("gateway"), release="sloop-gateway", namespace="observability")
    headless = next(s for s in of_kind(gateway, "Service") if s["spec"].get("clusterIP") == "None")
    gateway_otlp = next(p["port"] for p in headless["spec"]["ports"] if p["name"] == "otlp")

    agent = render(example_values("agent"), release="sloop-agent", namespace="observability")
    assert workload(agent)["kind"] == "DaemonSet"
    cfg = config(agent)
    lb = cfg["exporters"]["load_balancing"]
    assert lb["routing_key"] == "service"
    assert lb["protocol"]["otlp"]["tls"] == {"insecure": True}
    dns = lb["resolver"]["dns"]
    assert dns["hostname"] == f"{headless['metadata']['name']}.observability.svc.cluster.local"
    assert dns["port"] == gateway_otlp
    for signal in ("traces", "metrics", "logs"):
        assert cfg["service"]["pipelines"][signal]["exporters"] == ["load_balancing"], signal
    assert "debug" not in cfg["exporters"], "debug: null removes the default exporter"
    pipelines = cfg["service"]["pipelines"]
    assert pipelines["traces"]["exporters"] == ["load_balancing"]
    used = {e for p in pipelines.values() for e in p["exporters"]}
    assert used == set(cfg["exporters"]), "every exporter is used and defined"
    assert {r for p in pipelines.values() for r in p["receivers"]} == set(cfg["receivers"])
    assert {p for pl in pipelines.values() for p in pl.get("processors", [])} == set(cfg["processors"])


def test_the_cases_cover_every_kind_the_chart_renders():
    """So that test_every_manifest_validates_strictly sees each kind. Only the
    Prometheus Operator's kinds are checked structurally instead of by schema;
    any other kind without a schema makes validate_strictly fail."""
    kinds = set()
    for values in CASES.values():
        kinds |= {o["kind"] for o in render(values)}
    assert CRD_KINDS <= kinds, "the cases must render the CRD kinds too"
    assert WORKLOAD_KINDS <= kinds
    assert {"HorizontalPodAutoscaler", "PodDisruptionBudget", "ConfigMap", "Service", "ServiceAccount"} <= kinds


def test_pod_settings_pass_through():
    objects = render({"mode": "deployment", **POD_SETTINGS})
    template = workload(objects)["spec"]["template"]
    pod, c = template["spec"], container(objects)
    env_names = [e["name"] for e in c["env"]]
    assert env_names[-1] == "VENDOR_API_KEY" and c["env"][-1] == POD_SETTINGS["extraEnvs"][0]
    assert env_names[:4] == ["K8S_POD_NAME", "K8S_NAMESPACE_NAME", "K8S_NODE_NAME", "K8S_POD_IP"]
    assert POD_SETTINGS["extraVolumes"][0] in pod["volumes"]
    assert POD_SETTINGS["extraVolumeMounts"][0] in c["volumeMounts"]
    for key in ("nodeSelector", "tolerations", "affinity", "topologySpreadConstraints", "imagePullSecrets", "priorityClassName"):
        assert pod[key] == POD_SETTINGS[key], key
    assert template["metadata"]["annotations"]["team"] == "sre"
    assert "checksum/config" in template["metadata"]["annotations"]
    assert template["metadata"]["labels"]["tier"] == "gateway"
    # Overlays merge in order after the ConfigMap's file.
    assert c["args"] == ["--config", "/etc/sloop/config.yaml", "--config", "/etc/sloop-extra/overlay.yaml"]


def test_watch_config_reloads_in_place_instead_of_rolling_the_pods():
    """command.watchConfig passes --watch-config and drops the checksum annotation,
    so a config-only upgrade changes the mounted file and sloop reloads it; by
    default a config change still rolls the pods."""
    def pod_template(values):
        return workload(render(values))["spec"]["template"]

    default = pod_template({"mode": "deployment"})
    assert "checksum/config" in default["metadata"]["annotations"]
    assert "--watch-config" not in default["spec"]["containers"][0]["args"]

    watching = {"mode": "deployment", "command": {"watchConfig": True}}
    template = pod_template(watching)
    assert "checksum/config" not in (template["metadata"].get("annotations") or {})
    assert template["spec"]["containers"][0]["args"] == ["--config", "/etc/sloop/config.yaml", "--watch-config"]
    changed = pod_template({**watching, "config": {"processors": {"batch": {"timeout": "1s"}}}})
    assert changed == template, "a config change alone must not change the pod template"
