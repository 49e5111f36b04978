"""``python -m shared.rpc.healthcheck HOST:PORT [SERVICE]``: exit 0 when the gRPC server reports SERVING
(grpc.health.v1), 1 otherwise. Used by the docker-compose healthchecks."""

from __future__ import annotations

import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def health_status(address: str, service: str = "", timeout: float = 2.0) -> str:
    """``SERVING`` / ``NOT_SERVING`` / ``UNREACHABLE`` of a gRPC server's grpc.health.v1 service."""
    with grpc.insecure_channel(address) as channel:
        try:
            resp = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service),
                                                             timeout=timeout)
        except grpc.RpcError:
            return "UNREACHABLE"
    return health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)


def check(address: str, service: str = "", timeout: float = 3.0) -> bool:
    """True when the server reports SERVING."""
    return health_status(address, service, timeout) == "SERVING"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or len(argv) > 2:
        print("usage: python -m shared.rpc.healthcheck HOST:PORT [SERVICE]", file=sys.stderr)
        return 2
    ok = check(argv[0], argv[1] if len(argv) > 1 else "")
    print("SERVING" if ok else "NOT SERVING")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
