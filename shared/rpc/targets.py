"""gRPC targets for one server or several replicas (clients and services share it; no heavy imports)."""

from __future__ import annotations

import json

#: Round robin over every resolved address, and one retry on another replica when a call finds one down (only
#: UNAVAILABLE: nothing was processed). Every editdsc RPC is idempotent by request id, so a retry is safe.
BALANCED_SERVICE_CONFIG = json.dumps({
    "loadBalancingConfig": [{"round_robin": {}}],
    "methodConfig": [{"name": [{}], "retryPolicy": {"maxAttempts": 3, "initialBackoff": "0.1s", "maxBackoff": "1s",
                                                    "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]}}],
})


def balanced_target(address: str) -> tuple[str, list[tuple[str, object]]]:
    """A gRPC target and channel options for ``address``: ``host:port`` (one server), ``ip:port,ip:port,…``
    (replicas, IP literals) or ``dns:///name:port`` (every address the name resolves to, e.g. a headless
    Kubernetes Service); the last two are balanced round robin per call."""
    address = address.strip()
    if "," in address:
        parts = [a.strip() for a in address.split(",") if a.strip()]
        # an ipv4: target has no host name of its own: TLS checks every replica's certificate against the first
        # replica's host (their certificates must name it, as edsc up --tls-dir's do for loopback)
        host = parts[0].rsplit(":", 1)[0]
        return "ipv4:" + ",".join(parts), [("grpc.service_config", BALANCED_SERVICE_CONFIG),
                                           ("grpc.default_authority", host)]
    if address.startswith("dns:"):
        return address, [("grpc.service_config", BALANCED_SERVICE_CONFIG)]
    return address, []
