"""The console's HTTP layer (FastAPI): the page, its JSON API, and a reverse proxy of the receivers' results API.

Routes
------
``GET /``                           the single-page console (static HTML, JS and CSS from ``edsc/web/static``)
``GET /console/api/config``         what the page needs to know (auth, SNR range, channels, sweep levels)
``POST /console/api/parse``         the transmitter's reading of an instruction (``TransmitterService.Parse``)
``POST /console/api/submit``        multipart (photo, sample id or session id; instruction, SNR, channel, CSI):
                                    Server-Sent Events from ``SubmitStream`` (``progress`` …, then ``result``)
``POST /console/api/compare``       the same photo and instruction through JPEG + LDPC and DeepJSCC (edit before
                                    the link): images with CBR and LPIPS against the transmitter's noiseless edit
``GET /console/api/samples``        the built-in sample faces (``/console/api/samples/{i}.png``)
``GET /console/api/history``        the caller's results (the receivers' listing)
``GET /v1/results…``, ``/docs``, ``/openapi.json``   proxied to the receivers (round robin, long-polls streamed)

The layer holds no credentials of its own: the caller's ``Authorization: Bearer TOKEN`` header is passed to the
transmitter (gRPC metadata) and to the receivers unchanged, so every result stays its owner's. Errors are JSON
bodies ``{"detail": "...", "code": "..."}`` with a 4xx/5xx status.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import ssl
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Optional

import grpc
import httpx
from fastapi import Depends, FastAPI, File, Form, Header, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.background import BackgroundTask

from edsc.web.settings import WebSettings
from shared.auth import bearer
from shared.channel.limits import SNR_RANGE_DB
from shared.errors import EditDSCError, InvalidArgumentError
from shared.limits import MAX_INSTRUCTION_CHARS
from shared.rpc.editdsc.v1 import transmitter_pb2, transmitter_pb2_grpc
from shared.rpc.status import REQUEST_ID_KEY, quote

STATIC = Path(__file__).parent / "static"
CHANNELS = ("awgn", "rayleigh", "rician", "tdl")
CSI_MODES = ("perfect", "ls", "none")
SWEEP_DB = (-6.0, 0.0, 6.0, 12.0, 18.0)
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
PROXIED_REQUEST_HEADERS = ("authorization", "accept", "x-request-id", "if-none-match", "if-modified-since")
PROXIED_RESPONSE_HEADERS = ("content-type", "content-length", "content-encoding", "www-authenticate", "etag",
                            "last-modified", "cache-control", "x-request-id")
GRPC_TO_HTTP = {
    grpc.StatusCode.INVALID_ARGUMENT: 400, grpc.StatusCode.OUT_OF_RANGE: 400, grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401, grpc.StatusCode.PERMISSION_DENIED: 403, grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409, grpc.StatusCode.ABORTED: 409, grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.CANCELLED: 499, grpc.StatusCode.UNAVAILABLE: 503, grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}


class ApiError(Exception):
    """An error answered as ``{"detail", "code"}`` with an HTTP status."""

    def __init__(self, status: int, detail: str, code: str = ""):
        super().__init__(detail)
        self.status, self.detail, self.code = status, detail, code


def grpc_error(exc: grpc.aio.AioRpcError, what: str = "transmitter") -> ApiError:
    code = exc.code()
    detail = exc.details() or code.name.lower()
    if code == grpc.StatusCode.UNAVAILABLE:
        detail = f"the {what} is unavailable ({detail})"
    return ApiError(GRPC_TO_HTTP.get(code, 502), detail, code.name)


class ParseIn(BaseModel):
    instruction: str


def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


class Receivers:
    """The receivers' HTTP APIs, round robin; a replica that refuses the connection is skipped for the next."""

    def __init__(self, urls: list[str], verify: Any, timeout_s: float):
        if not urls:
            raise InvalidArgumentError("no receiver URL given (--results URL[,URL…])")
        for u in urls:
            if not u.startswith(("http://", "https://")):
                raise InvalidArgumentError(f"receiver URL {quote(u, 100)} must start with http:// or https://")
        self.urls = urls
        self._turn = itertools.count()
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(timeout_s, connect=5.0), verify=verify)

    async def send(self, method: str, path: str, params: Any = None, headers: Optional[dict] = None,
                   stream: bool = True) -> httpx.Response:
        start = next(self._turn)
        failure: Exception | None = None
        for i in range(len(self.urls)):
            base = self.urls[(start + i) % len(self.urls)]
            req = self.client.build_request(method, base + path, params=params, headers=headers or {})
            try:
                return await self.client.send(req, stream=stream)
            except httpx.TransportError as exc:
                failure = exc
        raise ApiError(502, f"no receiver is reachable ({type(failure).__name__}: {quote(str(failure), 100)})",
                       "RECEIVER_UNREACHABLE")

    async def get_json(self, path: str, params: Any, token: Optional[str]) -> Any:
        r = await self.send("GET", path, params, auth_headers(token), stream=False)
        if r.status_code != 200:
            raise ApiError(r.status_code, receiver_detail(r), "RECEIVER")
        return r.json()

    async def get_bytes(self, path: str, params: Any, token: Optional[str]) -> bytes:
        r = await self.send("GET", path, params, auth_headers(token), stream=False)
        if r.status_code != 200:
            raise ApiError(r.status_code, receiver_detail(r), "RECEIVER")
        return r.content

    async def close(self) -> None:
        await self.client.aclose()


def receiver_detail(r: httpx.Response) -> str:
    try:
        detail = r.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    if not isinstance(detail, str):
        detail = " ".join(r.text[:200].split())
    return f"receiver answered HTTP {r.status_code}: {detail}"


def auth_headers(token: Optional[str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def caller_token(authorization: Optional[str] = Header(None, include_in_schema=False)) -> Optional[str]:
    """The caller's bearer token (None: none given); another scheme is refused."""
    if authorization is None or not authorization.strip():
        return None
    token = bearer(authorization)
    if token is None:
        raise ApiError(401, "use 'Authorization: Bearer TOKEN'", "UNAUTHENTICATED")
    return token


def create_app(settings: WebSettings | None = None) -> FastAPI:
    """The console app for ``settings`` (default: the ``EDSC_WEB_*`` environment)."""
    s = settings or WebSettings()
    verify: Any = ssl.create_default_context(cafile=str(s.ca)) if s.ca else True
    receivers = Receivers(s.result_urls(), verify, s.proxy_timeout_s)
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        from shared.rpc.serving import channel_options
        from shared.rpc.targets import balanced_target

        target, balance = balanced_target(s.transmitter)
        options = channel_options(MAX_MESSAGE_BYTES) + balance
        if s.ca:
            from shared.tls import client_credentials
            channel = grpc.aio.secure_channel(target, client_credentials(s.ca), options=options)
        else:
            channel = grpc.aio.insecure_channel(target, options=options)
        state["channel"] = channel
        state["stub"] = transmitter_pb2_grpc.TransmitterServiceStub(channel)
        try:
            yield
        finally:
            await channel.close()
            await receivers.close()

    app = FastAPI(title="editdsc console", version="1", docs_url=None, redoc_url=None, openapi_url=None,
                  lifespan=lifespan)
    app.state.settings = s
    app.state.receivers = receivers

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError):    # noqa: ARG001
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse({"detail": exc.detail, "code": exc.code}, status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError):    # noqa: ARG001
        parts = []
        for e in exc.errors()[:5]:
            where = ".".join(str(x) for x in e.get("loc", ()) if x not in ("body", "query", "form"))
            got = f" (got {quote(e['input'], 100)})" if isinstance(e.get("input"), (str, int, float)) else ""
            parts.append(f"{where}: {e.get('msg', '')}{got}")
        return JSONResponse({"detail": "; ".join(parts), "code": "INVALID_ARGUMENT"}, status_code=422)

    @app.exception_handler(EditDSCError)
    async def edsc_error(request: Request, exc: EditDSCError):    # noqa: ARG001
        return JSONResponse({"detail": str(exc), "code": "INVALID_ARGUMENT"}, status_code=400)

    def stub() -> transmitter_pb2_grpc.TransmitterServiceStub:
        return state["stub"]

    def metadata(token: Optional[str], request_id: str = "") -> tuple[tuple[str, str], ...]:
        md = []
        if request_id:
            md.append((REQUEST_ID_KEY, request_id))
        if token:
            md.append(("authorization", f"Bearer {token}"))
        return tuple(md)

    # ------------------------------------------------------------------ the page
    @app.get("/", include_in_schema=False)
    async def index():
        return FileResponse(STATIC / "index.html", media_type="text/html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/healthz", include_in_schema=False)
    async def healthz():
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz():
        return {"status": "ready"}

    @app.get("/console/api/config")
    async def config():
        return {"auth": s.auth, "snr_range_db": list(SNR_RANGE_DB), "channels": list(CHANNELS),
                "csi": list(CSI_MODES), "sweep_db": list(SWEEP_DB), "samples": s.samples,
                "max_instruction_chars": MAX_INSTRUCTION_CHARS, "max_upload_bytes": int(s.max_upload_mb * 2 ** 20)}

    # ------------------------------------------------------------------ parse
    @app.post("/console/api/parse")
    async def parse(body: ParseIn, token: Optional[str] = Depends(caller_token)):
        from shared.rpc.convert import edit_to_dict

        instruction = check_instruction(body.instruction)
        try:
            r = await stub().Parse(transmitter_pb2.ParseRequest(instruction=instruction), timeout=15.0,
                                   metadata=metadata(token))
        except grpc.aio.AioRpcError as exc:
            raise grpc_error(exc) from None
        return {"edit": edit_to_dict(r.edit), "bundle_version": r.bundle_version, "attributes": list(r.attributes)}

    # ------------------------------------------------------------------ submit
    async def build_request(image: Optional[UploadFile], sample: Optional[int], session_id: str, instruction: str,
                            snr_db: float, channel: str, csi: str, return_ideal: bool, inversion_steps: int,
                            edit_steps: int, seed: Optional[int]) -> transmitter_pb2.SubmitRequest:
        from shared.rpc.convert import channel_params_from_dict

        instruction = check_instruction(instruction)
        sources = [x for x in (image is not None and image.filename != "", sample is not None, bool(session_id))
                   if x]
        if len(sources) != 1:
            raise ApiError(400, "send exactly one of: a photo (image), a sample face (sample) or a session id "
                                "(session_id) to continue", "INVALID_ARGUMENT")
        data = b""
        if image is not None and image.filename != "":
            data = await read_upload(image, int(s.max_upload_mb * 2 ** 20))
        elif sample is not None:
            from edsc.web.samples import sample_png
            data = await asyncio.to_thread(sample_png, sample, s.samples, s.resolution)
        if channel not in CHANNELS:
            raise ApiError(400, f"unknown channel {quote(channel, 40)}; use one of {', '.join(CHANNELS)}",
                           "INVALID_ARGUMENT")
        if csi not in CSI_MODES:
            raise ApiError(400, f"unknown CSI mode {quote(csi, 40)}; use one of {', '.join(CSI_MODES)}",
                           "INVALID_ARGUMENT")
        params = channel_params_from_dict({"model": channel, "csi": csi, "snr_db": snr_db})
        req = transmitter_pb2.SubmitRequest(image=data, instruction=instruction, channel=params,
                                            session_id=session_id, inversion_steps=inversion_steps,
                                            edit_steps=edit_steps, return_ideal=return_ideal)
        if seed is not None:
            req.seed = seed
        return req

    def result_dict(r: transmitter_pb2.SubmitResponse) -> dict[str, Any]:
        from edsc.client import response_to_dict

        out = response_to_dict(r)
        out["image_url"] = f"/v1/results/{r.request_id}/image.png"
        out["ideal"] = data_url(r.ideal_png) if r.ideal_png else None
        return out

    @app.post("/console/api/submit")
    async def submit(image: Optional[UploadFile] = File(None), sample: Optional[int] = Form(None),
                     session_id: str = Form(""), instruction: str = Form(...), snr_db: float = Form(12.0),
                     channel: str = Form("awgn"), csi: str = Form("perfect"), return_ideal: bool = Form(True),
                     inversion_steps: int = Form(0), edit_steps: int = Form(0), seed: Optional[int] = Form(None),
                     token: Optional[str] = Depends(caller_token)):
        from edsc.client import new_request_id

        req = await build_request(image, sample, session_id, instruction, snr_db, channel, csi, return_ideal,
                                  inversion_steps, edit_steps, seed)
        rid = new_request_id()
        req.request_id = rid
        t0 = time.perf_counter()
        call = stub().SubmitStream(transmitter_pb2.SubmitStreamRequest(submit=req), timeout=s.timeout_s,
                                   metadata=metadata(token, rid))
        events = call.__aiter__()
        try:
            first = await events.__anext__()         # refusals (bad instruction, image, auth) answer 4xx here
        except StopAsyncIteration:
            raise ApiError(502, "the transmitter ended the stream without an answer", "UNAVAILABLE") from None
        except grpc.aio.AioRpcError as exc:
            raise grpc_error(exc) from None

        async def stream() -> AsyncIterator[bytes]:
            event = first
            try:
                while True:
                    if event.HasField("progress"):
                        p = event.progress
                        yield sse("progress", {"stage": p.stage, "step": p.step, "total": p.total,
                                               "elapsed_s": round(time.perf_counter() - t0, 4)})
                    else:
                        out = result_dict(event.result)
                        out["elapsed_s"] = round(time.perf_counter() - t0, 4)
                        yield sse("result", out)
                        return
                    event = await events.__anext__()
            except StopAsyncIteration:
                yield sse("error", {"detail": "the transmitter ended the stream without a result",
                                    "code": "UNAVAILABLE", "status": 502})
            except grpc.aio.AioRpcError as exc:
                err = grpc_error(exc)
                yield sse("error", {"detail": err.detail, "code": err.code, "status": err.status,
                                    "request_id": rid})
            finally:
                call.cancel()

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no",
                                          "X-Request-Id": rid})

    # ------------------------------------------------------------------ compare
    @app.post("/console/api/compare")
    async def compare(image: Optional[UploadFile] = File(None), sample: Optional[int] = Form(None),
                      instruction: str = Form(...), snr_db: float = Form(12.0), channel: str = Form("awgn"),
                      csi: str = Form("perfect"), inversion_steps: int = Form(0), edit_steps: int = Form(0),
                      seed: int = Form(1), token: Optional[str] = Depends(caller_token)):
        from edsc.client import new_request_id
        from edsc.web.compare import compare_links

        req = await build_request(image, sample, "", instruction, snr_db, channel, csi, True, inversion_steps,
                                  edit_steps, seed)
        rid = new_request_id()
        req.request_id = rid
        t0 = time.perf_counter()
        try:
            r = await stub().Submit(req, timeout=s.timeout_s, metadata=metadata(token, rid))
        except grpc.aio.AioRpcError as exc:
            raise grpc_error(exc) from None
        received = await receivers.get_bytes(f"/v1/results/{r.request_id}/image.png", {"wait": 30}, token)
        links = await asyncio.to_thread(compare_links, bytes(r.ideal_png), received, float(snr_db),
                                        {"model": channel, "csi": csi}, seed, r.cbr, s.deepjscc, s.torch_threads)
        out = result_dict(r)
        out.update({"links": links, "snr_db": float(snr_db), "channel": channel, "csi": csi,
                    "elapsed_s": round(time.perf_counter() - t0, 4)})
        return out

    # ------------------------------------------------------------------ samples and history
    @app.get("/console/api/samples")
    async def samples():
        from edsc.web.samples import sample_list
        return {"items": sample_list(s.samples)}

    @app.get("/console/api/samples/{index}.png")
    async def sample_image(index: int):
        from edsc.web.samples import sample_png
        png = await asyncio.to_thread(sample_png, index, s.samples, s.resolution)
        return Response(png, media_type="image/png", headers={"Cache-Control": "max-age=3600"})

    @app.get("/console/api/history")
    async def history(limit: int = Query(20, ge=1, le=100), cursor: Optional[str] = Query(None, max_length=200),
                      token: Optional[str] = Depends(caller_token)):
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        return await receivers.get_json("/v1/results", params, token)

    # ------------------------------------------------------------------ the receivers' API, proxied
    async def proxy(request: Request):
        headers = {k: request.headers[k] for k in PROXIED_REQUEST_HEADERS if k in request.headers}
        r = await receivers.send(request.method, request.url.path, list(request.query_params.multi_items()),
                                 headers)
        out = {k: v for k, v in r.headers.items() if k.lower() in PROXIED_RESPONSE_HEADERS}
        return StreamingResponse(r.aiter_raw(), status_code=r.status_code, headers=out,
                                 background=BackgroundTask(r.aclose))

    app.add_api_route("/v1/results", proxy, methods=["GET", "HEAD"], include_in_schema=False)
    app.add_api_route("/v1/results/{rest:path}", proxy, methods=["GET", "HEAD"], include_in_schema=False)
    app.add_api_route("/docs", proxy, methods=["GET"], include_in_schema=False)
    app.add_api_route("/openapi.json", proxy, methods=["GET"], include_in_schema=False)
    return app


def check_instruction(text: str) -> str:
    instruction = (text or "").strip()
    if not instruction:
        raise ApiError(400, "the instruction is empty", "INVALID_ARGUMENT")
    if len(instruction) > MAX_INSTRUCTION_CHARS:
        raise ApiError(400, f"the instruction has {len(instruction)} characters; the limit is "
                            f"{MAX_INSTRUCTION_CHARS}", "INVALID_ARGUMENT")
    return instruction


async def read_upload(upload: UploadFile, limit: int) -> bytes:
    """The uploaded photo's bytes, checked to be an image the transmitter can decode (400 naming the problem)."""
    from shared.image_io import decode_image

    data = await upload.read(limit + 1)
    name = quote(upload.filename or "the upload", 100)
    if not data:
        raise ApiError(400, f"{name} is empty", "INVALID_ARGUMENT")
    if len(data) > limit:
        raise ApiError(413, f"{name} is larger than {limit // 2 ** 20} MiB", "INVALID_ARGUMENT")
    try:
        await asyncio.to_thread(decode_image, data, name, 128)
    except EditDSCError as exc:
        raise ApiError(400, f"{name} is not a photo the console can use: {exc}", "INVALID_ARGUMENT") from None
    return data
