"""The web console: a single-page app and its small HTTP layer, a client of the services like ``edsc send``.

:mod:`edsc.web.app` builds the FastAPI app (console API, static page, reverse proxy of the receivers' results
API); :mod:`edsc.web.server` runs it (``edsc web`` and the ``web`` child of ``edsc up``). docs/CONSOLE.md is the
user's guide.
"""
