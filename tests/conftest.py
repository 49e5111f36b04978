"""Shared fixtures: a tiny random-init bundle (session-wide), test images, the services, PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from edsc.launcher import free_ports  # noqa: F401 - tests import it from here too
from PIL import Image


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory) -> Path:
    """A tiny untrained bundle (64 px) with every component of the real format."""
    from edsc.random_bundle import make_random_bundle
    return make_random_bundle(tmp_path_factory.mktemp("bundle") / "tiny", size=64, seed=0)


@pytest.fixture(scope="session")
def astronaut_png(tmp_path_factory) -> Path:
    """skimage's astronaut portrait (512x512) as a PNG file."""
    from skimage import data
    path = tmp_path_factory.mktemp("images") / "astronaut.png"
    Image.fromarray(data.astronaut()).save(path)
    return path



@pytest.fixture(scope="module")
def service_stack(tmp_path_factory):
    """The three services as real processes on free loopback ports (tiny random bundle, r_inv = r_edit = 3), with
    raw gRPC stubs: {"launcher", "root", "tx", "ch", "rx", "channels", "http", "metrics"}."""
    import grpc

    from edsc.launcher import Launcher, Ports
    from edsc.random_bundle import make_random_bundle
    from shared.rpc.editdsc.v1 import channel_pb2_grpc, receiver_pb2_grpc, transmitter_pb2_grpc

    root = tmp_path_factory.mktemp("stack")
    bundle = make_random_bundle(root / "bundle", size=64)
    tx, ch, rx, http, metrics = free_ports(5)
    launcher = Launcher(ports=Ports(tx, ch, rx, http, metrics, 0), bundle=bundle, store_dir=root / "store",
                        log_dir=root / "logs",
                        env={"EDSC_DEVICE": "cpu", "EDSC_TRANSMITTER_INVERSION_STEPS": "3",
                             "EDSC_TRANSMITTER_EDIT_STEPS": "3", "EDSC_TRANSMITTER_MAX_BATCH_SIZE": "4",
                             "EDSC_TRANSMITTER_MAX_BATCH_WAIT_MS": "20", "EDSC_TRANSMITTER_TORCH_THREADS": "1",
                             "EDSC_RECEIVER_MAX_WAIT_S": "2"})
    launcher.start_all()
    try:
        launcher.wait_healthy(180)
        channels = {name: grpc.insecure_channel(addr) for name, addr in launcher.addresses.items()}
        yield {"launcher": launcher, "root": root,
               "tx": transmitter_pb2_grpc.TransmitterServiceStub(channels["transmitter"]),
               "ch": channel_pb2_grpc.ChannelServiceStub(channels["channel"]),
               "rx": receiver_pb2_grpc.ReceiverServiceStub(channels["receiver"]),
               "channels": channels, "http": launcher.http_url, "metrics": f"http://127.0.0.1:{metrics}/metrics"}
        for c in channels.values():
            c.close()
    finally:
        launcher.stop_all()


@pytest.fixture(scope="session")
def postgres_url():
    """A throw-away PostgreSQL server on a free loopback port (:class:`edsc.pgserver.TempPostgres`). Skips when
    PostgreSQL is not installed (CI installs it)."""
    from edsc.pgserver import TempPostgres, postgres_bindir

    if postgres_bindir() is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    server = TempPostgres()
    try:
        yield server.start()
    finally:
        server.stop()
