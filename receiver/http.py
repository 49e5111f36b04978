"""The receiver's HTTP API (FastAPI): results as JSON and PNG, long-poll, health, readiness, metrics.

``GET /v1/results/{id}`` (``?wait=SECONDS`` waits for a result still in flight), ``GET /v1/results/{id}/image.png``,
``GET /v1/results?limit=&cursor=&session_id=`` (newest first, paginated), ``/healthz`` (liveness), ``/readyz``
(weights loaded), ``/metrics`` (Prometheus), OpenAPI at ``/openapi.json`` and ``/docs``.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Optional

from fastapi import FastAPI, HTTPException, Query, Response
from fastapi.responses import FileResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from receiver.store import ResultStore, StoredResult


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


def create_app(store: ResultStore, ready: Callable[[], bool], registry=None, max_wait_s: float = 60.0,
               page_size_max: int = 200) -> FastAPI:
    app = FastAPI(title="editdsc receiver", version="1",
                  description="Edited images delivered over the emulated semantic-communication link.")

    async def _find(result_id: str, wait: float) -> StoredResult:
        if not wait >= 0:
            raise HTTPException(422, "wait must be a non-negative number of seconds")
        wait = min(wait, max_wait_s)          # longer waits are clamped to the server's limit
        found = store.get(result_id)
        if found is None and wait > 0:
            found = await asyncio.to_thread(store.wait, result_id, wait)
        if found is None:
            raise HTTPException(404, f"no result {result_id!r}" + (f" after waiting {wait:g} s" if wait else ""))
        return found

    @app.get("/v1/results/{result_id}", response_model=ResultOut, summary="One result's metadata")
    async def get_result(result_id: str, wait: float = Query(0.0, description="seconds to wait for it")):
        return _out(await _find(result_id, wait))

    @app.get("/v1/results/{result_id}/image.png", summary="The edited image (PNG)",
             response_class=FileResponse)
    async def get_image(result_id: str, wait: float = Query(0.0, description="seconds to wait for it")):
        found = await _find(result_id, wait)
        return FileResponse(found.image_path, media_type="image/png")

    @app.get("/v1/results", response_model=ResultPage, summary="Results, newest first")
    async def list_results(limit: int = Query(50, ge=1), cursor: Optional[str] = None,
                           session_id: Optional[str] = None):
        if limit > page_size_max:
            raise HTTPException(422, f"limit must be at most {page_size_max}")
        try:
            items, nxt = store.list(limit=limit, after=cursor, session_id=session_id)
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

    @app.get("/metrics", summary="Prometheus metrics", include_in_schema=True)
    async def metrics():
        data = generate_latest(registry) if registry is not None else generate_latest()
        return Response(content=data, media_type=CONTENT_TYPE_LATEST)

    return app
