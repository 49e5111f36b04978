"""The receiver's HTTP API (FastAPI): results as JSON and PNG, long-poll, health, readiness, metrics.

``GET /v1/results/{id}`` (``?wait=SECONDS`` waits for a result still in flight), ``GET /v1/results/{id}/image.png``,
``GET /v1/results?limit=&cursor=&session_id=`` (newest first, paginated), ``/healthz`` (liveness), ``/readyz``
(weights loaded), ``/metrics`` (Prometheus), OpenAPI at ``/openapi.json`` and a plain HTML reference at ``/docs``
(rendered on the server: it needs no script or stylesheet from elsewhere, so it works offline).

With a tokens table, every route but ``/healthz`` and ``/readyz`` needs ``Authorization: Bearer TOKEN``
(401 with a JSON body otherwise). A principal sees only its own results (another's is a plain 404, and never
appears in a listing); administrators see everyone's.

A long-poll parks an asyncio future that the store's listener resolves when the result arrives: it holds no
worker thread, so many waiting clients do not delay anyone else. Errors are JSON bodies ``{"detail": ...}``.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Callable, Optional

import html

from fastapi import Depends, FastAPI, Header, HTTPException, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from receiver.store import ResultStore, StoredResult
from shared.auth import ANONYMOUS, Principal, TokenTable, bearer
from shared.rpc.status import MAX_REQUEST_ID, quote

ID_REGEX = r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,%d}$" % (MAX_REQUEST_ID - 1)


class ResultOut(BaseModel):
    id: str
    created: float
    session_id: str
    image_url: str
    metadata: dict[str, Any]


class ResultPage(BaseModel):
    items: list[ResultOut]
    next_cursor: Optional[str] = None


def _out(r: StoredResult) -> ResultOut:
    return ResultOut(id=r.id, created=r.created, session_id=r.session_id,
                     image_url=f"/v1/results/{r.id}/image.png", metadata=r.metadata)


class Waiters:
    """Long-polls parked on the event loop: result id → futures, resolved from the store's listener."""

    def __init__(self, limit: int):
        self.limit = limit
        self._lock = threading.Lock()
        self._items: dict[str, set[asyncio.Future]] = {}
        self._count = 0
        self.loop: asyncio.AbstractEventLoop | None = None

    def park(self, result_id: str) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        self.loop = loop
        with self._lock:
            if self._count >= self.limit:
                raise HTTPException(503, f"too many long-polls waiting ({self.limit}); retry later")
            fut = loop.create_future()
            self._items.setdefault(result_id, set()).add(fut)
            self._count += 1
        return fut

    def unpark(self, result_id: str, fut: asyncio.Future) -> None:
        with self._lock:
            group = self._items.get(result_id)
            if group is not None and fut in group:
                group.discard(fut)
                self._count -= 1
                if not group:
                    del self._items[result_id]

    def stored(self, result_id: str) -> None:
        """The store's listener (any thread)."""
        with self._lock:
            group = list(self._items.get(result_id, ()))
        loop = self.loop
        if group and loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(lambda: [f.set_result(True) for f in group if not f.done()])


def docs_page(schema: dict[str, Any]) -> str:
    """The OpenAPI document as one self-contained HTML page (routes, parameters, responses)."""
    e = html.escape
    rows = []
    for path, ops in schema.get("paths", {}).items():
        for method, op in ops.items():
            params = "".join(
                f"<li><code>{e(p['name'])}</code> ({e(p.get('in', ''))}{', required' if p.get('required') else ''})"
                f": {e(p.get('description', '') or p.get('schema', {}).get('type', ''))}</li>"
                for p in op.get("parameters", []))
            codes = ", ".join(f"{e(c)} {e(r.get('description', ''))}" for c, r in op.get("responses", {}).items())
            rows.append(f"<section><h2><code>{e(method.upper())} {e(path)}</code></h2><p>{e(op.get('summary', ''))}"
                        f"</p>{'<ul>' + params + '</ul>' if params else ''}<p>Responses: {codes}</p></section>")
    info = schema.get("info", {})
    return (f"<!doctype html><html lang=en><meta charset=utf-8><title>{e(info.get('title', ''))} API</title>"
            "<style>body{font:15px/1.45 system-ui,sans-serif;max-width:60em;margin:2em auto;padding:0 1em}"
            "code{background:#f3f3f3;padding:0 .2em}section{border-top:1px solid #ddd}</style>"
            f"<h1>{e(info.get('title', ''))} API</h1><p>{e(info.get('description', ''))} "
            "The machine-readable document is <a href=/openapi.json>/openapi.json</a>.</p>" + "".join(rows))


def create_app(store: ResultStore, ready: Callable[[], bool], registry=None, max_wait_s: float = 60.0,
               page_size_max: int = 100, max_waiters: int = 1000, tokens: TokenTable | None = None) -> FastAPI:
    app = FastAPI(title="editdsc receiver", version="1", docs_url=None, redoc_url=None, openapi_url=None,
                  description="Edited images delivered over the emulated semantic-communication link.")
    waiters = Waiters(max_waiters)

    def caller(authorization: Optional[str] = Header(None, include_in_schema=False)) -> Principal:
        if tokens is None:
            return ANONYMOUS
        token = bearer(authorization)
        principal = tokens.lookup(token) if token else None
        if principal is None:
            raise HTTPException(401, "this API needs 'Authorization: Bearer TOKEN'" if token is None else
                                "the token is not valid", headers={"WWW-Authenticate": "Bearer"})
        return principal

    def scope(principal: Principal) -> Optional[str]:
        """Whose results a caller may read: its own, or everyone's for administrators (and with auth off)."""
        return None if principal.is_admin else principal.owner

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError):    # noqa: ARG001
        """422 naming each bad parameter, quoting at most a short piece of what was sent."""
        detail = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", ""),
                   **({"input": quote(e["input"], 100)} if isinstance(e.get("input"), (str, int, float)) else {})}
                  for e in exc.errors()[:10]]
        return JSONResponse({"detail": detail}, status_code=422)

    store.add_listener(waiters.stored)
    result_id_path = Path(..., pattern=ID_REGEX, max_length=MAX_REQUEST_ID,
                          description="the request id (letters, digits, '.', '_', '-')")
    wait_query = Query(0.0, ge=0, le=1e6, allow_inf_nan=False,
                       description=f"seconds to wait for a result still in flight (at most {max_wait_s:g})")

    async def _find(result_id: str, wait: float, principal: Principal) -> StoredResult:
        wait = min(wait, max_wait_s)          # longer waits are clamped to the server's limit
        owner = scope(principal)
        found = store.get(result_id, owner)
        deadline = asyncio.get_running_loop().time() + wait
        while found is None:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                break
            fut = waiters.park(result_id)
            try:
                found = store.get(result_id, owner)      # stored between the last look and parking
                if found is None:
                    try:
                        await asyncio.wait_for(fut, left)
                    except asyncio.TimeoutError:
                        pass
                    found = store.get(result_id, owner)   # (woken by another owner's result: wait on)
            finally:
                waiters.unpark(result_id, fut)
        if found is None:
            raise HTTPException(404, f"no result {result_id}" + (f" after waiting {wait:g} s" if wait else ""))
        return found

    @app.get("/v1/results/{result_id}", response_model=ResultOut, summary="One result's metadata",
             responses={404: {"description": "no such result (yet)"}})
    async def get_result(result_id: str = result_id_path, wait: float = wait_query,
                         principal: Principal = Depends(caller)):
        return _out(await _find(result_id, wait, principal))

    @app.get("/v1/results/{result_id}/image.png", summary="The edited image (PNG)",
             response_class=FileResponse, responses={404: {"description": "no such result (yet)"}})
    async def get_image(result_id: str = result_id_path, wait: float = wait_query,
                        principal: Principal = Depends(caller)):
        found = await _find(result_id, wait, principal)
        if found.image_path is not None:
            return FileResponse(found.image_path, media_type="image/png")
        return Response(content=found.read_image(), media_type="image/png")

    @app.get("/v1/results", response_model=ResultPage, summary="Results, newest first")
    async def list_results(limit: int = Query(50, ge=1, le=page_size_max),
                           cursor: Optional[str] = Query(None, max_length=200),
                           session_id: Optional[str] = Query(None, pattern=ID_REGEX, max_length=MAX_REQUEST_ID),
                           principal: Principal = Depends(caller)):
        try:
            items, nxt = store.list(limit=limit, after=cursor, session_id=session_id, owner=scope(principal))
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        return ResultPage(items=[_out(r) for r in items], next_cursor=nxt)

    @app.get("/healthz", summary="Liveness")
    async def healthz():
        return {"status": "ok"}

    @app.get("/readyz", summary="Readiness: weights loaded")
    async def readyz(response: Response):
        if not ready():
            response.status_code = 503
            return {"status": "loading"}
        return {"status": "ready"}

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(principal: Principal = Depends(caller)):    # noqa: ARG001 - authenticates
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, response_class=HTMLResponse)
    async def docs(principal: Principal = Depends(caller)):    # noqa: ARG001 - authenticates
        return HTMLResponse(docs_page(app.openapi()))

    @app.get("/metrics", summary="Prometheus metrics", include_in_schema=True)
    async def metrics(principal: Principal = Depends(caller)):    # noqa: ARG001 - authenticates
        data = generate_latest(registry) if registry is not None else generate_latest()
        return Response(content=data, media_type=CONTENT_TYPE_LATEST)

    return app
