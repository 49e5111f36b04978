"""`edsc loadtest`: a load tester for the running services (transmitter over gRPC, results over the receiver's HTTP).

The work is split over two processes so that gevent's monkey-patching never reaches the `edsc` CLI (or a test
process):

* the CLI (:mod:`edsc.cli.loadtest`, un-patched) checks the input, reaches the services, sends one reference request
  per (image, instruction) at the highest SNR, writes a :class:`~edsc.loadtest.plan.Plan` and starts
* the load generator ``python -m edsc.loadtest.runner PLAN`` (:mod:`edsc.loadtest.runner`, Locust as a library,
  gevent-patched), which runs the stages with the gRPC user of :mod:`edsc.loadtest.user` and writes one JSON line per
  request; then the CLI
* scores every received image with LPIPS against its reference (:mod:`edsc.loadtest.quality`) and writes
  ``requests.csv``, ``summary.json``, the plots and ``report.md`` (:mod:`edsc.loadtest.analysis`).

Only :mod:`edsc.loadtest.runner` and :mod:`edsc.loadtest.user` import Locust; nothing here imports them.
"""
