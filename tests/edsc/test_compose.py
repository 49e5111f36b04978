"""Static checks of docker-compose.yml (+ the GPU override) and the Dockerfile against the services' settings
(no Docker engine runs here; `docker-compose config -q` is run when the tool exists)."""

from __future__ import annotations

import importlib
import shutil
import subprocess
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

from channel_emulator.settings import ChannelServiceSettings  # noqa: E402
from receiver.settings import ReceiverServiceSettings  # noqa: E402
from shared.config import CommonSettings  # noqa: E402
from transmitter.settings import TransmitterServiceSettings  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = {"transmitter": TransmitterServiceSettings, "channel": ChannelServiceSettings,
            "receiver": ReceiverServiceSettings}
MODULES = {"transmitter": "transmitter.server", "channel": "channel_emulator.server", "receiver": "receiver.server"}
DEFAULT_PORTS = {"transmitter": 50051, "channel": 50052, "receiver": 50053}


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def gpu():
    return yaml.safe_load((ROOT / "docker-compose.gpu.yml").read_text())


def known_env(name: str) -> set[str]:
    cls = SETTINGS[name]
    prefix = cls.model_config["env_prefix"]
    common = {f"{CommonSettings.model_config['env_prefix']}{f}".upper() for f in CommonSettings.model_fields}
    aliases = {f.validation_alias for f in cls.model_fields.values() if isinstance(f.validation_alias, str)}
    return {f"{prefix}{f}".upper() for f in cls.model_fields} | common | aliases


def test_services_commands_and_env(compose):
    services = compose["services"]
    assert set(services) == set(SETTINGS)
    for name, svc in services.items():
        assert svc["command"][:2] == ["python", "-m"] and svc["command"][2] == MODULES[name]
        assert hasattr(importlib.import_module(MODULES[name]), "main")
        unknown = set(svc["environment"]) - known_env(name)
        assert not unknown, f"{name}: environment variables no setting reads: {unknown}"
        port = int(svc["environment"][f"EDSC_{name.upper()}_PORT"])
        assert port == DEFAULT_PORTS[name] == SETTINGS[name]().port
        assert svc["environment"][f"EDSC_{name.upper()}_HOST"] == "0.0.0.0"


def test_only_the_client_ports_are_published_on_loopback(compose):
    published = {name: svc.get("ports", []) for name, svc in compose["services"].items()}
    assert published == {"transmitter": ["${EDSC_PUBLISH_HOST:-127.0.0.1}:50051:50051"], "channel": [],
                         "receiver": ["${EDSC_PUBLISH_HOST:-127.0.0.1}:8080:8080"]}
    for svc in compose["services"].values():        # 0.0.0.0 inside the compose network only: said explicitly
        assert svc["environment"]["EDSC_ALLOW_INSECURE"] == "1"


def test_secure_override_mounts_every_secret():
    secure = yaml.safe_load((ROOT / "docker-compose.secure.yml").read_text())
    for name, svc in secure["services"].items():
        env = svc["environment"]
        assert env["EDSC_ALLOW_INSECURE"] == "0" and env["EDSC_AUTH_TOKENS_FILE"].startswith("/run/secrets/")
        for key in ("TLS_CERT", "TLS_KEY", "TLS_CA"):
            secret = env[f"EDSC_{name.upper()}_{key}"].removeprefix("/run/secrets/")
            assert secret in svc["secrets"] and secret in secure["secrets"]
        assert svc["healthcheck"]["test"][-2:] == ["--tls-as", name]
        assert set(env) <= known_env(name)


def test_ports_match_defaults(compose):
    rx = compose["services"]["receiver"]
    assert int(rx["environment"]["EDSC_RECEIVER_HTTP_PORT"]) == ReceiverServiceSettings().http_port == 8080
    assert rx["ports"][0].endswith(":8080:8080")
    tx = compose["services"]["transmitter"]
    assert int(tx["environment"]["EDSC_TRANSMITTER_METRICS_PORT"]) == TransmitterServiceSettings().metrics_port


def test_downstream_addresses_point_at_services(compose):
    s = compose["services"]
    host, port = s["transmitter"]["environment"]["EDSC_TRANSMITTER_CHANNEL_ADDRESS"].split(":")
    assert host == "channel" and int(port) == int(s["channel"]["environment"]["EDSC_CHANNEL_PORT"])
    host, port = s["channel"]["environment"]["EDSC_CHANNEL_RECEIVER_ADDRESS"].split(":")
    assert host == "receiver" and int(port) == int(s["receiver"]["environment"]["EDSC_RECEIVER_PORT"])


def test_healthchecks_and_dependencies(compose):
    s = compose["services"]
    for name, svc in s.items():
        test = svc["healthcheck"]["test"]
        assert test[:4] == ["CMD", "python", "-m", "shared.rpc.healthcheck"]
        assert test[4].endswith(f":{DEFAULT_PORTS[name]}")
    assert s["transmitter"]["depends_on"]["channel"]["condition"] == "service_healthy"
    assert s["channel"]["depends_on"]["receiver"]["condition"] == "service_healthy"
    importlib.import_module("shared.rpc.healthcheck")


def test_bundle_mounted_read_only(compose):
    for name in ("transmitter", "receiver"):
        svc = compose["services"][name]
        mounts = [v for v in svc["volumes"] if v.rsplit(":", 2)[-2:] == ["/bundle", "ro"]]
        assert mounts, svc["volumes"]
        assert svc["environment"]["EDSC_BUNDLE"] == "/bundle"


def test_gpu_override_reserves_nvidia(gpu, compose):
    for name in ("transmitter", "receiver"):
        dev = gpu["services"][name]["deploy"]["resources"]["reservations"]["devices"][0]
        assert dev["driver"] == "nvidia" and dev["capabilities"] == ["gpu"] and dev["count"] == 1
        assert gpu["services"][name]["environment"]["EDSC_DEVICE"] == "cuda"
    assert "deploy" not in gpu["services"]["channel"]
    assert set(gpu["services"]) <= set(compose["services"])


def test_dockerfile_copies_every_package():
    text = (ROOT / "Dockerfile").read_text()
    for pkg in ("shared", "transmitter", "channel_emulator", "receiver", "edsc", "proto"):
        assert f"COPY {pkg} ./{pkg}" in text
    assert "EXPOSE 50051 50052 50053 8080" in text


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose is not installed")
def test_docker_compose_config():
    for files in (["docker-compose.yml"], ["docker-compose.yml", "docker-compose.gpu.yml"]):
        args = ["docker-compose"] + sum((["-f", f] for f in files), []) + ["config", "-q"]
        res = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
        assert res.returncode == 0, res.stderr
