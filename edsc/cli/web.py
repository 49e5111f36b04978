"""`edsc web`: the web console on its own, for services started elsewhere (``edsc up`` starts it for you)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser("web", help="serve the web console for running services",
                              description="Serve the single-page console (and a proxy of the receivers' /v1/results "
                                          "API) for a transmitter and receivers that already run. docs/CONSOLE.md.")
    p.add_argument("--transmitter", default="127.0.0.1:50051", metavar="HOST:PORT[,HOST:PORT…]",
                   help="the transmitter's gRPC address (replicas: a comma-separated list)")
    p.add_argument("--results", default="http://127.0.0.1:8090", metavar="URL[,URL…]",
                   help="the receivers' HTTP API (replicas: a comma-separated list, used round robin)")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default loopback)")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--auth", action="store_true",
                   help="the services need tokens: the page asks for one up front (it also asks on any 401)")
    p.add_argument("--ca", type=Path, default=os.environ.get("EDSC_TLS_CA") or None, metavar="FILE",
                   help="PEM CA of the services' certificates when they use TLS (default: EDSC_TLS_CA)")
    p.add_argument("--tls-cert", type=Path, default=None, metavar="FILE", help="serve the console over HTTPS")
    p.add_argument("--tls-key", type=Path, default=None, metavar="FILE")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edsc.web.server import serve
    from edsc.web.settings import WebSettings
    from shared.errors import EditDSCError

    if not 0 <= args.port <= 65535:
        raise EditDSCError(f"--port must lie in [0, 65535], got {args.port}")
    for name in ("ca", "tls_cert", "tls_key"):
        path = getattr(args, name)
        if path is not None and not Path(path).is_file():
            raise EditDSCError(f"--{name.replace('_', '-')} {path} does not exist")
    if args.host not in ("127.0.0.1", "localhost", "::1") and args.tls_cert is None:
        print("edsc web: warning: serving plain HTTP beyond loopback; tokens typed into the page travel "
              "unencrypted (give --tls-cert/--tls-key)")
    settings = WebSettings(host=args.host, port=args.port, transmitter=args.transmitter, results=args.results,
                           ca=args.ca, tls_cert=args.tls_cert, tls_key=args.tls_key, auth=args.auth)
    print(f"edsc web: console on {'https' if args.tls_cert else 'http'}://{args.host}:{args.port}/ "
          f"(transmitter {args.transmitter}, results {args.results}); Ctrl-C stops it", flush=True)
    serve(settings)
    return 0
