"""`edsc up`: run transmitter, channel emulator and receiver as separate local processes until Ctrl-C / SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from shared.errors import EditDSCError


def register(subparsers) -> None:
    p = subparsers.add_parser("up", help="run the three services locally (loopback) until Ctrl-C",
                              description="Start transmitter, channel emulator and receiver as separate processes, "
                                          "wait until all are healthy, print their addresses, stop on Ctrl-C/SIGTERM.")
    p.add_argument("--transmitter-port", type=int, default=50051)
    p.add_argument("--channel-port", type=int, default=50052)
    p.add_argument("--receiver-port", type=int, default=50053)
    p.add_argument("--http-port", type=int, default=8080)
    p.add_argument("--transmitter-metrics-port", type=int, default=9101, help="0: off")
    p.add_argument("--channel-metrics-port", type=int, default=9102, help="0: off")
    p.add_argument("--bundle", type=Path, default=None, help="model bundle (default: EDSC_BUNDLE)")
    p.add_argument("--store", type=Path, default=Path("receiver-data"), help="receiver result store")
    p.add_argument("--logs", type=Path, default=Path("build/logs"), help="service log folder")
    p.add_argument("--startup-timeout", type=float, default=300.0)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edsc.launcher import Launcher, Ports
    from shared.config import settings

    bundle = args.bundle or settings().bundle
    if not Path(bundle).is_dir():
        raise EditDSCError(f"bundle {bundle} does not exist (give --bundle, set EDSC_BUNDLE, or run "
                           "`edsc bundle init-random DIR` for an untrained preview bundle)")
    launcher = Launcher(ports=Ports(args.transmitter_port, args.channel_port, args.receiver_port, args.http_port,
                                    args.transmitter_metrics_port, args.channel_metrics_port),
                        bundle=Path(bundle), store_dir=args.store, log_dir=args.logs)
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        launcher.start_all()
        print(f"edsc: starting services (logs in {args.logs}/)...", file=sys.stderr)
        launcher.wait_healthy(args.startup_timeout)
        a = launcher.addresses
        print(f"transmitter  grpc://{a['transmitter']}   (metrics :{args.transmitter_metrics_port})")
        print(f"channel      grpc://{a['channel']}   (metrics :{args.channel_metrics_port})")
        print(f"receiver     grpc://{a['receiver']}")
        print(f"results      {launcher.http_url}/v1/results   (docs {launcher.http_url}/docs)")
        print("all services healthy; Ctrl-C stops them", flush=True)
        while not stop.wait(0.5):
            dead = launcher.dead()
            if dead:
                raise EditDSCError(f"the {dead} service exited (see {args.logs}/{dead}.log)")
    except KeyboardInterrupt:
        pass
    finally:
        codes = launcher.stop_all()
        signal.signal(signal.SIGTERM, previous)
        print("edsc: stopped " + ", ".join(f"{n} ({c})" for n, c in codes.items()), file=sys.stderr)
    return 0
