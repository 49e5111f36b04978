"""deploy/k8s: every overlay renders with `kubectl kustomize` and validates against the Kubernetes 1.32 schemas
(`kubernetes-validate --strict`); names, ports, probes, env vars and resources agree with the settings classes."""

from __future__ import annotations

import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

from channel_emulator.settings import ChannelServiceSettings
from receiver.settings import ReceiverServiceSettings
from shared.config import CommonSettings, ServiceSettings
from transmitter.settings import TransmitterServiceSettings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = sorted(p.name for p in (K8S / "overlays").iterdir() if (p / "kustomization.yaml").exists())
SERVICES = {"transmitter": TransmitterServiceSettings, "channel": ChannelServiceSettings,
            "receiver": ReceiverServiceSettings}
KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed (it renders the kustomizations)")


def test_the_required_overlays_exist():
    assert {"cpu", "gpu", "autoscale", "dev-store"} <= set(OVERLAYS)


@lru_cache(maxsize=None)
def render(overlay: str) -> str:
    out = subprocess.run([KUBECTL, "kustomize", str(K8S / "overlays" / overlay)], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout


def docs(overlay: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(render(overlay)) if d]


def find(objs: list[dict], kind: str, name: str) -> dict:
    hits = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(hits) == 1, f"{kind}/{name}: {len(hits)} found"
    return hits[0]


def allowed_env(cls: type[ServiceSettings]) -> set[str]:
    prefix = cls.model_config["env_prefix"]
    common = {f"{CommonSettings.model_config['env_prefix']}{f}".upper() for f in CommonSettings.model_fields}
    aliases = {f.validation_alias for f in cls.model_fields.values() if isinstance(f.validation_alias, str)}
    return {f"{prefix}{f}".upper() for f in cls.model_fields} | common | aliases


def container_env(objs: list[dict], container: dict) -> dict[str, str]:
    env: dict[str, str] = {}
    for src in container.get("envFrom", []):
        if "configMapRef" in src:
            env.update(find(objs, "ConfigMap", src["configMapRef"]["name"])["data"])
        if "secretRef" in src:
            env.update(find(objs, "Secret", src["secretRef"]["name"]).get("stringData", {}))
    env.update({e["name"]: e.get("value", "") for e in container.get("env", [])})
    return env


@needs_kubectl
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_validates_against_kubernetes_1_32(overlay, tmp_path):
    validator = shutil.which("kubernetes-validate") or str(Path(__import__("sys").executable).parent
                                                           / "kubernetes-validate")
    if not Path(validator).exists():
        pytest.skip("kubernetes-validate is not installed (pip install -e .[dev])")
    rendered = tmp_path / f"{overlay}.yaml"
    rendered.write_text(render(overlay))
    out = subprocess.run([validator, "-k", "1.32.0", "--strict", str(rendered)], capture_output=True, text=True,
                         timeout=60)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text
    assert "ERROR" not in text, text
    # The only schema kubernetes-validate lacks is KEDA's CRD; that is a warning, and nothing else may warn.
    warnings = [line for line in text.splitlines() if line.startswith("WARN")]
    assert all("ScaledObject" in w and "keda.sh/v1alpha1" in w for w in warnings), warnings
    kinds = {d["kind"] for d in docs(overlay)}
    assert ("ScaledObject" in kinds) == bool(warnings)


@needs_kubectl
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_deployments_match_the_settings_classes(overlay):
    objs = docs(overlay)
    for name, cls in SERVICES.items():
        dep = find(objs, "Deployment", f"edsc-{name}")
        pod = dep["spec"]["template"]["spec"]
        (c,) = [c for c in pod["containers"] if c["name"] == name]
        env = container_env(objs, c)
        prefix = cls.model_config["env_prefix"]
        # every EDSC_* variable given to the container is a field of its settings class (or a common one)
        unknown = {k for k in env if k.startswith("EDSC_")} - allowed_env(cls) - {
            k for other, ocls in SERVICES.items() if other != name for k in allowed_env(ocls)}
        assert not unknown, f"{name}: {sorted(unknown)} are not settings"
        s = cls.model_validate({k[len(prefix):].lower(): v for k, v in env.items() if k.startswith(prefix)})
        assert s.host == "0.0.0.0"
        assert "EDSC_DATABASE_URL" in env
        # ports: gRPC port of the settings = containerPort named grpc = every probe's port = Service port
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        assert ports["grpc"] == s.port == cls.model_fields["port"].default
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert c[probe]["grpc"]["port"] == s.port, (name, probe)
        assert c["startupProbe"]["periodSeconds"] * c["startupProbe"]["failureThreshold"] >= 60
        if s.metrics_port:
            assert ports["metrics"] == s.metrics_port and s.metrics_host == "0.0.0.0"
        if name == "receiver":
            assert ports["http"] == s.http_port
            http = find(objs, "Service", "edsc-receiver-http")
            assert http["spec"]["ports"][0]["targetPort"] == "http"
        svc = find(objs, "Service", f"edsc-{name}")
        assert svc["spec"]["clusterIP"] == "None", "gRPC Services are headless: clients balance per call"
        assert {"name": "grpc", "port": s.port, "targetPort": "grpc", "appProtocol": "grpc"} in svc["spec"]["ports"]
        assert svc["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"]
        # draining: the pod's grace period covers the service's GRACE_S (default and configured)
        grace = pod["terminationGracePeriodSeconds"]
        assert grace > cls.model_fields["grace_s"].default and grace > s.grace_s
        assert s.max_connection_age_s > 0
        # bundle: read-only at EDSC_BUNDLE; the data dir is writable
        mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
        assert mounts[env["EDSC_BUNDLE"]]["readOnly"] is True
        data_dir = env.get("EDSC_TRANSMITTER_DATA_DIR") if name == "transmitter" else None
        if data_dir:
            assert data_dir in mounts and not mounts[data_dir].get("readOnly")


@needs_kubectl
def test_services_point_at_each_other_by_headless_dns_names():
    objs = docs("cpu")
    env = find(objs, "ConfigMap", "edsc-config")["data"]
    assert env["EDSC_TRANSMITTER_CHANNEL_ADDRESS"] == "dns:///edsc-channel:50052"
    assert env["EDSC_CHANNEL_RECEIVER_ADDRESS"] == "dns:///edsc-receiver:50053"
    # without a database the services use SQLite on each pod (one replica each): the base's URL is empty
    assert find(objs, "Secret", "edsc-database")["stringData"]["EDSC_DATABASE_URL"] == ""
    assert {find(objs, "Deployment", f"edsc-{n}")["spec"]["replicas"] for n in SERVICES} == {1}


@needs_kubectl
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_has_resource_requests_and_a_memory_limit(overlay):
    for o in docs(overlay):
        if o["kind"] in ("Deployment", "StatefulSet"):
            for c in o["spec"]["template"]["spec"]["containers"]:
                res = c.get("resources", {})
                assert {"cpu", "memory"} <= set(res.get("requests", {})), (o["metadata"]["name"], c["name"])
                assert "memory" in res.get("limits", {}), (o["metadata"]["name"], c["name"])


@needs_kubectl
def test_gpu_overlay_reserves_a_gpu_for_the_model_services_only():
    objs = docs("gpu")
    for name in SERVICES:
        c = find(objs, "Deployment", f"edsc-{name}")["spec"]["template"]["spec"]["containers"][0]
        gpus = c["resources"].get("limits", {}).get("nvidia.com/gpu")
        env = container_env(objs, c)
        if name == "channel":
            assert gpus is None
        else:
            assert gpus == 1 and env[f"EDSC_{name.upper()}_DEVICE"] == "cuda"
        assert c["image"] == "editdsc:gpu"


@needs_kubectl
def test_autoscale_scales_the_transmitter_on_queue_depth_with_a_cpu_fallback():
    objs = docs("autoscale")
    so = find(objs, "ScaledObject", "edsc-transmitter")
    assert so["spec"]["scaleTargetRef"]["name"] == "edsc-transmitter"
    (trigger,) = so["spec"]["triggers"]
    assert trigger["type"] == "prometheus"
    assert 'edsc_queue_depth{service="transmitter"}' in trigger["metadata"]["query"]
    hpa = find(objs, "HorizontalPodAutoscaler", "edsc-transmitter-cpu")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "edsc-transmitter"}
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    # the metric KEDA's Prometheus scrapes is served on the transmitter's metrics port
    tx = find(objs, "Deployment", "edsc-transmitter")["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "metrics", "containerPort": TransmitterServiceSettings.model_fields["metrics_port"].default} \
        in tx["ports"]


@needs_kubectl
def test_dev_store_runs_postgres_and_points_the_services_at_it():
    objs = docs("dev-store")
    sts = find(objs, "StatefulSet", "edsc-postgres")
    svc = find(objs, "Service", "edsc-postgres")
    assert svc["spec"]["selector"] == sts["spec"]["selector"]["matchLabels"]
    url = find(objs, "Secret", "edsc-database")["stringData"]["EDSC_DATABASE_URL"]
    pg = find(objs, "Secret", "edsc-postgres")["stringData"]
    assert url == (f"postgresql://{pg['POSTGRES_USER']}:{pg['POSTGRES_PASSWORD']}@edsc-postgres:"
                   f"{svc['spec']['ports'][0]['port']}/{pg['POSTGRES_DB']}")
    assert find(objs, "Deployment", "edsc-transmitter")["spec"]["replicas"] == 2
    assert find(objs, "Deployment", "edsc-receiver")["spec"]["replicas"] == 2
