"""Run the console: ``python -m edsc.web.server`` (settings from ``EDSC_WEB_*``, :class:`WebSettings`), the
``web`` child of ``edsc up``; ``edsc web`` runs the same with flags."""

from __future__ import annotations

import contextlib
import signal
import sys

from edsc.web.settings import WebSettings
from shared.errors import EditDSCError


def serve(settings: WebSettings) -> None:
    """Serve the console until SIGINT / SIGTERM (then a graceful stop and a normal exit)."""
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self):
            """Stop on SIGINT / SIGTERM and exit normally (uvicorn would re-raise the signal afterwards)."""
            def stop(signum, frame):    # noqa: ARG001
                if self.should_exit and signum == signal.SIGINT:
                    self.force_exit = True      # a second Ctrl-C: do not wait for open connections
                self.should_exit = True
            previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for s, handler in previous.items():
                    signal.signal(s, handler)

    from edsc.web.app import create_app

    if (settings.tls_cert is None) != (settings.tls_key is None):
        raise EditDSCError("HTTPS needs both a certificate and its key (--tls-cert and --tls-key)")
    if settings.torch_threads > 0:
        import torch
        torch.set_num_threads(settings.torch_threads)
    app = create_app(settings)
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level=settings.log_level,
                            ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
                            ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
                            timeout_graceful_shutdown=5)
    Server(config).run()


def main() -> int:
    try:
        serve(WebSettings())
    except EditDSCError as exc:
        print(f"web: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
