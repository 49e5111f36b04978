"""gRPC plumbing both ends use: generated stubs (``shared.rpc.editdsc.v1``), the tensor codec, conversions
between proto messages and the model core's types, error → status mapping, request ids and the common server
set-up (health, reflection, metrics, bounded concurrency, logging). Nothing here imports a service package."""
