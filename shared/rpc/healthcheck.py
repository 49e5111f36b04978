"""``python -m shared.rpc.healthcheck HOST:PORT [SERVICE] [--tls-as NAME]``: exit 0 when the gRPC server reports
SERVING (grpc.health.v1), 1 otherwise. Used by the docker-compose healthchecks.

``--tls-as transmitter|channel|receiver`` connects over TLS with that service's certificate and CA (its
``EDSC_<NAME>_TLS_CERT`` / ``_TLS_KEY`` / ``_TLS_CA`` settings), as a peer service would; without it the check uses
a plain-text connection.
"""

from __future__ import annotations

import argparse
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def health_status(address: str, service: str = "", timeout: float = 2.0,
                  credentials: grpc.ChannelCredentials | None = None) -> str:
    """``SERVING`` / ``NOT_SERVING`` / ``UNREACHABLE`` of a gRPC server's grpc.health.v1 service."""
    channel = grpc.secure_channel(address, credentials) if credentials is not None else grpc.insecure_channel(address)
    with channel:
        try:
            resp = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service),
                                                             timeout=timeout)
        except grpc.RpcError:
            return "UNREACHABLE"
    return health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)


def check(address: str, service: str = "", timeout: float = 3.0,
          credentials: grpc.ChannelCredentials | None = None) -> bool:
    """True when the server reports SERVING."""
    return health_status(address, service, timeout, credentials) == "SERVING"


def service_credentials(name: str) -> grpc.ChannelCredentials:
    """TLS credentials of service ``name`` (from its settings), to call a peer as that service does."""
    from shared.tls import TLSFiles

    prefix = {"transmitter": "transmitter.settings:TransmitterServiceSettings",
              "channel": "channel_emulator.settings:ChannelServiceSettings",
              "receiver": "receiver.settings:ReceiverServiceSettings"}[name]
    module, cls = prefix.split(":")
    settings = getattr(__import__(module, fromlist=[cls]), cls)()
    tls = TLSFiles.from_settings(settings.tls_cert, settings.tls_key, settings.tls_ca)
    if tls is None:
        raise SystemExit(f"healthcheck: the {name} service has no TLS settings")
    return tls.channel_credentials()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m shared.rpc.healthcheck")
    ap.add_argument("address", help="HOST:PORT")
    ap.add_argument("service", nargs="?", default="", help="service name (default: the server as a whole)")
    ap.add_argument("--tls-as", choices=("transmitter", "channel", "receiver"), default=None)
    args = ap.parse_args(sys.argv[1:] if argv is None else argv)
    creds = service_credentials(args.tls_as) if args.tls_as else None
    ok = check(args.address, args.service, credentials=creds)
    print("SERVING" if ok else "NOT SERVING")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
