"""`edsc up`: run transmitter, channel emulator, receiver and the web console as separate local processes until
Ctrl-C / SIGTERM; a service that exits by itself is restarted after an exponential back-off
(edsc.launcher.Supervisor). The console listens on --http-port and proxies the receivers' /v1/results there, so
``http://HOST:8080/v1/results/...`` keeps working; the receivers serve their own API on --results-port."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

from shared.errors import EditDSCError


def register(subparsers) -> None:
    p = subparsers.add_parser("up", help="run the three services and the web console locally until Ctrl-C",
                              description="Start transmitter, channel emulator, receiver and the web console as "
                                          "separate processes, wait until all are healthy, print their addresses, "
                                          "restart a service that exits (back-off 0.5 s doubling to 30 s), stop all "
                                          "on Ctrl-C/SIGTERM.")
    p.add_argument("--transmitter-port", type=int, default=50051)
    p.add_argument("--channel-port", type=int, default=50052)
    p.add_argument("--receiver-port", type=int, default=50053)
    p.add_argument("--http-port", type=int, default=8080,
                   help="the web console; it also serves the receivers' /v1/results, /docs, /openapi.json by proxy "
                        "(0: no console)")
    p.add_argument("--results-port", type=int, default=8090,
                   help="the receivers' own HTTP API (replicas on consecutive ports)")
    p.add_argument("--transmitter-metrics-port", type=int, default=9101, help="0: off")
    p.add_argument("--channel-metrics-port", type=int, default=9102, help="0: off")
    p.add_argument("--bundle", type=Path, default=None, help="model bundle (default: EDSC_BUNDLE)")
    p.add_argument("--store", type=Path, default=Path("receiver-data"), help="receiver result store")
    p.add_argument("--logs", type=Path, default=Path("build/logs"), help="service log folder")
    p.add_argument("--startup-timeout", type=float, default=300.0)
    p.add_argument("--transmitter-replicas", type=int, default=1,
                   help="transmitters on consecutive ports from --transmitter-port (several need --database-url)")
    p.add_argument("--receiver-replicas", type=int, default=1,
                   help="receivers on consecutive gRPC ports from --receiver-port and HTTP ports from --results-port")
    p.add_argument("--database-url", default=os.environ.get("EDSC_DATABASE_URL"), metavar="URL",
                   help="postgresql://… shared by every replica for results and sessions (default: EDSC_DATABASE_URL; "
                        "none: SQLite files under --store)")
    p.add_argument("--tls-dir", type=Path, default=None, metavar="DIR",
                   help="serve everything over TLS, mutual TLS between the services; creates DIR/ca.pem and one "
                        "certificate per service when missing")
    p.add_argument("--tokens", type=Path, default=None, metavar="FILE",
                   help="client tokens (lines PRINCIPAL TOKEN [ROLE]); default: EDSC_AUTH_TOKENS_FILE; SIGHUP to "
                        "`edsc up` re-reads it in every service")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edsc.launcher import Launcher, Ports, RestartPolicy
    from shared.config import settings

    bundle = args.bundle or settings().bundle
    if not Path(bundle).is_dir():
        raise EditDSCError(f"bundle {bundle} does not exist (give --bundle, set EDSC_BUNDLE, or run "
                           "`edsc bundle init-random DIR` for an untrained preview bundle)")
    env = {}
    if args.tokens is not None:
        if not args.tokens.is_file():
            raise EditDSCError(f"tokens file {args.tokens} does not exist")
        env["EDSC_AUTH_TOKENS_FILE"] = str(args.tokens.resolve())
    launcher = Launcher(ports=Ports(args.transmitter_port, args.channel_port, args.receiver_port, args.results_port,
                                    args.transmitter_metrics_port, args.channel_metrics_port, args.http_port),
                        bundle=Path(bundle), store_dir=args.store, log_dir=args.logs, env=env,
                        transmitter_replicas=args.transmitter_replicas, receiver_replicas=args.receiver_replicas,
                        database_url=args.database_url, tls_dir=args.tls_dir)
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    previous_hup = signal.signal(signal.SIGHUP, lambda *_: launcher.signal_all(signal.SIGHUP))
    try:
        launcher.start_all()
        print(f"edsc: starting services (logs in {args.logs}/)...", file=sys.stderr)
        launcher.wait_healthy(args.startup_timeout)
        for name, addr in launcher.addresses.items():
            print(f"{name:<14} grpc://{addr}")
        for url in launcher.http_urls:
            print(f"results        {url}/v1/results   (API reference {url}/docs)")
        front = launcher.console_url or launcher.http_url
        if launcher.console_url:
            print(f"console        {front}/   (and {front}/v1/results by proxy)")
        connect = [f"--transmitter {launcher.target('transmitter')}", f"--receiver {front}"]
        if launcher.ca:
            connect.append(f"--ca {launcher.ca}")
        if launcher.auth_on:
            connect.append("--token TOKEN")
        print(f"connect with   edsc send IMAGE \"INSTRUCTION\" {' '.join(connect)}")
        print("all services healthy; Ctrl-C stops them", flush=True)
        supervisor = launcher.supervise(RestartPolicy())
        while not stop.wait(0.5):
            if not supervisor.is_alive():
                raise EditDSCError(f"the supervisor stopped unexpectedly (see {args.logs}/supervisor.log)")
    except KeyboardInterrupt:
        pass
    finally:
        codes = launcher.stop_all()
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGHUP, previous_hup)
        print("edsc: stopped " + ", ".join(f"{n} ({c})" for n, c in codes.items()), file=sys.stderr)
    return 0
