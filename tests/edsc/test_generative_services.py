"""The generative scheme through the three services as real processes on loopback (tiny random bundle with a
random generative component, few steps), the CLI's refusals, and the component's installation."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import grpc
import numpy as np
import pytest
from PIL import Image

from edsc.client import EditDSCClient, ServiceCallError
from edsc.launcher import Launcher, Ports, free_ports
from edsc.random_bundle import make_random_bundle
from edsc.train.generative import install_untrained

ROOT = Path(__file__).resolve().parents[2]


def png_bytes(seed: int = 0, size: int = 64) -> bytes:
    arr = (np.random.default_rng(seed).random((size, size, 3)) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def add_generative(bundle: Path, tmp: Path, version: str = "gen-test") -> Path:
    return install_untrained(bundle, tmp / "gen-run", (16,), version)


def test_install_component_is_checksummed_and_loads(tmp_path):
    from shared.bundle import Bundle
    from shared.errors import BundleError
    from shared.models.generative import load_generative

    bundle = make_random_bundle(tmp_path / "b", size=32)
    before = json.loads((bundle / "manifest.json").read_text())
    add_generative(bundle, tmp_path)
    after = json.loads((bundle / "manifest.json").read_text())
    assert after["version"] == "gen-test" and "generative.safetensors" in after["files"]
    assert {k: v for k, v in after["components"].items() if k != "generative"} == before["components"]
    assert load_generative(Bundle(bundle)).available_k() == [16]
    with open(bundle / "generative.safetensors", "r+b") as fh:       # corrupt one byte: the checksum catches it
        fh.seek(200)
        byte = fh.read(1)
        fh.seek(200)
        fh.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(BundleError):
        load_generative(Bundle(bundle))


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    root = tmp_path_factory.mktemp("gen-services")
    bundle = make_random_bundle(root / "bundle", size=64)
    add_generative(bundle, root)
    tx, ch, rx, http = free_ports(4)
    launcher = Launcher(ports=Ports(tx, ch, rx, http, 0, 0), bundle=bundle, store_dir=root / "store",
                        log_dir=root / "logs",
                        env={"EDSC_DEVICE": "cpu", "EDSC_TRANSMITTER_INVERSION_STEPS": "2",
                             "EDSC_TRANSMITTER_EDIT_STEPS": "2", "EDSC_RECEIVER_MAX_WAIT_S": "10"})
    launcher.start_all()
    try:
        launcher.wait_healthy(180)
        client = EditDSCClient(launcher.addresses["transmitter"], launcher.http_url, timeout_s=120, retry_for_s=0)
        yield {"client": client, "launcher": launcher}
        client.close()
    finally:
        launcher.stop_all()


def test_generative_end_to_end(services):
    client: EditDSCClient = services["client"]
    r = client.submit(png_bytes(1), "", 10.0, {"model": "awgn"}, seed=3, scheme="generative",
                      generative={"privacy": "identity", "k": 16})
    assert r["scheme"] == "generative" and r["k"] == 16
    g = r["generative"]
    assert g["privacy"] == "identity" and g["flow"] and g["k_real"] == 16 and g["k_complex"] == 8
    assert g["cbr_real"] == pytest.approx(16 / (64 * 64 * 3)) and g["cbr_complex"] == pytest.approx(8 / (64 * 64 * 3))
    assert r["channel_report"]["snr_db"] == 10.0 and r["timings"]["privacy_distance"] > 0
    meta = client.result(r["request_id"], wait_s=5)["metadata"]
    assert meta["scheme"] == "generative" and meta["generative"] == {"privacy": "identity", "k": 16, "flow": True,
                                                                     "edit": False}
    assert meta["k"] == 16
    img = Image.open(io.BytesIO(client.image(r["request_id"])))
    assert img.format == "PNG" and img.size == (64, 64)
    # without the flow, default k (the smallest shipped), no privacy
    r2 = client.submit(png_bytes(2), "", 10.0, scheme="generative", generative={"no_flow": True}, stream=False)
    assert r2["generative"]["flow"] is False and r2["k"] == 16 and r2["generative"]["privacy"] == "none"
    # the editdsc scheme still answers with its own name
    r3 = client.submit(png_bytes(3), "add glasses", 10.0, stream=False)
    assert r3["scheme"] == "editdsc" and r3["k"] == 512


def test_retry_with_other_generative_parameters_is_refused(services):
    client: EditDSCClient = services["client"]
    first = client.submit(png_bytes(4), "", 6.0, request_id="gen-once", scheme="generative",
                          generative={"privacy": "eyes", "k": 16}, stream=False)
    again = client.submit(png_bytes(4), "", 6.0, request_id="gen-once", scheme="generative",
                          generative={"privacy": "eyes", "k": 16}, stream=False)
    assert again["replayed"] and again["request_id"] == first["request_id"]
    with pytest.raises(ServiceCallError) as exc:
        client.submit(png_bytes(4), "", 6.0, request_id="gen-once", scheme="generative",
                      generative={"privacy": "identity", "k": 16}, stream=False)
    assert exc.value.code == grpc.StatusCode.ALREADY_EXISTS


@pytest.mark.parametrize("scheme, generative, match", [
    ("holographic", None, "unknown scheme"),
    ("generative", {"privacy": "nose"}, "privacy must be one of"),
    ("generative", {"k": 24}, "k must be one of"),
    ("generative", {"edit": True}, "not available"),
    ("generative", "add glasses", "takes no instruction"),
    ("editdsc", {"k": 16}, "for the editdsc scheme"),
])
def test_bad_generative_requests_are_refused(services, scheme, generative, match):
    client: EditDSCClient = services["client"]
    instruction = generative if isinstance(generative, str) else "add glasses" if scheme == "editdsc" else ""
    generative = None if isinstance(generative, str) else generative
    with pytest.raises(ServiceCallError) as exc:
        client.submit(png_bytes(5), instruction, 6.0, scheme=scheme, generative=generative, stream=False)
    assert exc.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert match in exc.value.details


@pytest.mark.parametrize("args, match", [
    (["--scheme", "generative", "--k", "0"], "--k 0"),
    (["add glasses", "--scheme", "generative"], "takes no instruction"),
    (["add glasses", "--privacy", "eyes"], "belong to --scheme generative"),
])
def test_cli_refuses_bad_generative_arguments(tmp_path, args, match):
    image = tmp_path / "face.png"
    image.write_bytes(png_bytes(6))
    proc = subprocess.run([sys.executable, "-m", "edsc.cli.main", "send", str(image), *args,
                           "--transmitter", "127.0.0.1:1", "--retry-for", "0"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "edsc: error:" in proc.stderr and match in proc.stderr
