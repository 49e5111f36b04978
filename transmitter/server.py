"""The transmitter service: ``TransmitterService.Submit`` / ``SubmitStream``.

image + instruction → (micro-batched) inversion + JECC + A_CE → ``ChannelService.Transmit`` → the receiver stores
the result; the answer carries the parsed edit, the JECC outcome, k, CBR, per-stage timings and the bundle version.
Sessions let a follow-up instruction continue from the last sent latent without re-inverting.

The request id is an idempotency key: the first completed attempt's answer is recorded (with the session change it
made, atomically, :mod:`transmitter.sessions`) and every retry with that id gets it back without recomputing; a
retry while the first attempt runs joins it (:mod:`transmitter.flights`); the same id with a different request is
refused (ALREADY_EXISTS). docs/SERVICES.md says what a client may conclude from each status code.

Run with ``python -m transmitter.server`` (settings: :class:`transmitter.settings.TransmitterServiceSettings`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import queue
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Optional

import grpc
import torch

from shared.auth import current_principal
from shared.bundle import Bundle
from shared.channel.limits import check_snr_db
from shared.config import load_settings, pick_device, settings as common_settings
from shared.errors import EditDSCError, InvalidArgumentError
from shared.image_io import encode_png, load_image_tensor
from shared.rpc.convert import edit_to_proto, generative_to_proto, outcome_to_proto
from shared.rpc.editdsc.v1 import channel_pb2, channel_pb2_grpc, common_pb2, transmitter_pb2, transmitter_pb2_grpc
from shared.rpc.serving import Handler, Limiter, Security, Server, ServiceMetrics, add_servicer, remaining_s, \
    setup_logging
from shared.rpc.status import ServiceError, downstream_error, new_request_id, quote, valid_id, valid_request_id
from shared.rpc.tensors import tensor_to_proto
from transmitter.batcher import Job, MicroBatcher
from transmitter.flights import Flight, Flights, mismatch
from transmitter.instruction import MAX_INSTRUCTION_CHARS, Edit
from transmitter.inversion_cache import InversionCache
from transmitter.inversion import InversionConfig
from transmitter.jecc import JECCConfig
from transmitter.pipeline import TransmitterPipeline, TxOutput, channel_bandwidth_ratio
from transmitter.sessions import Session, SessionConflict, SessionWrite, open_state_store
from transmitter.settings import TransmitterServiceSettings

log = logging.getLogger("editdsc.transmitter")
SERVICE = "editdsc.v1.TransmitterService"
CLIENT_METHODS = (f"/{SERVICE}/Submit", f"/{SERVICE}/SubmitStream", f"/{SERVICE}/Parse")
SESSION_LOCKS = 64          # striped locks: follow-ups of one session run one after the other
COMPUTED_KEPT = 256         # computed edits kept for a retry after a failed forward
COMPUTED_TTL_S = 600.0


def fingerprint(request: transmitter_pb2.SubmitRequest) -> str:
    """What a request asks for, without its id: equal fingerprints ⇔ the same request."""
    copy = transmitter_pb2.SubmitRequest()
    copy.CopyFrom(request)
    copy.request_id = ""
    copy.instruction = copy.instruction.strip()
    return hashlib.sha256(copy.SerializeToString(deterministic=True)).hexdigest()


@dataclass
class Plan:
    """A validated request, ready to run."""

    rid: str
    owner: str
    fingerprint: str
    instruction: str
    edit: Edit
    snr_db: float
    channel: common_pb2.ChannelParams
    channel_uses: int
    image: Optional[torch.Tensor]        # (3, R, R), or None for a follow-up
    session_id: str
    inversion_steps: int
    edit_steps: int
    t_start: float
    validate_s: float
    parse_s: float
    image_sha256: str = ""               # of the image bytes as sent (the inversion cache's key)
    return_ideal: bool = False
    scheme: str = "editdsc"              # or "generative" (Han et al.)
    generative: tuple = ()               # scheme = generative: (privacy, k, flow)


class TransmitterServicer(transmitter_pb2_grpc.TransmitterServiceServicer):
    def __init__(self, settings: TransmitterServiceSettings, metrics: ServiceMetrics, security: Security,
                 served_by: str = ""):
        self.s = settings
        self.security = security
        self.served_by = served_by
        self.metrics = metrics
        self.handler = Handler(metrics, log)
        self.limiter = Limiter(settings.max_in_flight, "transmitter")
        self.state = open_state_store(settings.data_dir, settings.database_url_value(),
                                      max_sessions=settings.max_sessions, session_ttl_s=settings.session_ttl_s,
                                      max_requests=settings.max_requests_kept, request_ttl_s=settings.request_ttl_s)
        self.flights = Flights()
        self.inversions = InversionCache(settings.inversion_cache_entries)
        self._runner = ThreadPoolExecutor(max_workers=settings.max_in_flight, thread_name_prefix="flight")
        self._session_locks = [threading.Lock() for _ in range(SESSION_LOCKS)]
        self._computed: dict[str, tuple[str, TxOutput, int, float]] = {}   # fingerprint, output, turn, when
        self._computed_lock = threading.Lock()
        self.pipeline: TransmitterPipeline | None = None
        self.generative = None               # transmitter.generative.GenerativeTransmitter when the bundle has it
        self._generative_lock = threading.Lock()
        self._generative_missing = "its bundle has no generative component (edsc train generative)"
        self.batcher: MicroBatcher | None = None
        self.bundle: Bundle | None = None
        self.k = 0
        self._channel = security.channel(settings.channel_address, settings.max_message_bytes)
        self.channel = channel_pb2_grpc.ChannelServiceStub(self._channel)
        metrics.queue_depth.labels("transmitter").set_function(lambda: float(len(self.flights)))

    # ------------------------------------------------------------------ life cycle
    def load(self) -> None:
        if self.s.load_delay_s:
            time.sleep(self.s.load_delay_s)
        common = common_settings()
        device = pick_device(self.s.device or common.device)
        self.bundle = Bundle(self.s.bundle or common.bundle, device)
        pipeline = TransmitterPipeline(self.bundle, InversionConfig(steps=self.s.inversion_steps,
                                                                       init=self.s.inversion_init,
                                                                       keep_degrees=self.s.inversion_keep_degrees),
                                       JECCConfig(max_steps=self.s.edit_steps,
                                                  channel_draws=self.s.edit_channel_draws))
        self.batcher = MicroBatcher(pipeline, self.s.max_batch_size, self.s.max_batch_wait_ms / 1000.0,
                                    on_batch=lambda n: self.metrics.batch_size.labels("transmitter").observe(n),
                                    on_cancel=lambda n: self.metrics.abandoned.labels("transmitter").inc(n))
        with torch.no_grad():
            self.k = int(pipeline.adapters.encode(torch.zeros(1, self.bundle.manifest.latent_dim, device=device),
                                                  torch.tensor([0.0])).shape[1])
        if self.bundle.has("generative"):
            from shared.errors import BundleError
            from transmitter.generative import GenerativeTransmitter
            try:
                self.generative = GenerativeTransmitter(self.bundle)
            except BundleError as exc:      # the editdsc scheme still serves; generative requests are told why
                self._generative_missing = str(exc)
                log.warning("generative scheme unavailable", extra={"reason": str(exc)})
        self.pipeline = pipeline

    def close(self) -> None:
        if self.batcher is not None:
            self.batcher.close()
        self._runner.shutdown(wait=False, cancel_futures=True)
        self._channel.close()
        self.state.close()

    # ------------------------------------------------------------------ RPCs
    def Submit(self, request, context):
        with self.handler.call("Submit", context, request.request_id) as st, self.limiter.slot():
            replay, attend = self._admit(request, context, st["request_id"], None)
            if replay is not None:
                return replay
            with attend as flight:
                return self._await(flight, context)

    def SubmitStream(self, request, context):
        with self.handler.call("SubmitStream", context, request.submit.request_id) as st, self.limiter.slot():
            events: "queue.Queue" = queue.Queue()
            last = {"stage": None, "t": 0.0}

            def listen(stage: str, step: int, total: int) -> None:
                events.put(transmitter_pb2.Progress(stage=stage, step=step, total=total))

            replay, attend = self._admit(request.submit, context, st["request_id"], listen)
            if replay is not None:
                yield transmitter_pb2.SubmitStreamResponse(result=replay)
                return
            with attend as flight:
                while True:
                    try:
                        pr = events.get(timeout=0.1)
                    except queue.Empty:
                        if flight.future.done():
                            break
                        if not context.is_active():
                            return                                 # the client left: the flight may cancel
                        if remaining_s(context) <= 0:
                            raise self._deadline_error()
                        continue
                    now = time.monotonic()          # at most ~20 events per second per stage
                    if pr.stage == last["stage"] and now - last["t"] < 0.05 and pr.step not in (pr.total, 0):
                        continue
                    last.update(stage=pr.stage, t=now)
                    yield transmitter_pb2.SubmitStreamResponse(progress=pr)
                yield transmitter_pb2.SubmitStreamResponse(result=self._await(flight, context))

    def Parse(self, request, context):
        """The bundle's reading of one instruction (attribute, direction, degree), without editing anything."""
        with self.handler.call("Parse", context):
            if self.pipeline is None:
                raise ServiceError(grpc.StatusCode.UNAVAILABLE, "the transmitter is still loading its weights")
            instruction = request.instruction.strip()
            if not instruction:
                raise InvalidArgumentError("the instruction is empty")
            if len(instruction) > MAX_INSTRUCTION_CHARS:
                raise InvalidArgumentError(f"the instruction has {len(instruction)} characters; the limit is "
                                           f"{MAX_INSTRUCTION_CHARS}")
            edit = self.pipeline.parse([instruction])[0]
            return transmitter_pb2.ParseResponse(edit=edit_to_proto(edit), bundle_version=self.bundle.version,
                                                 attributes=list(self.bundle.attributes))

    # ------------------------------------------------------------------ admission
    def _admit(self, request, context, rid: str, listen):
        """Validate ``request`` and either answer it from the ledger (``(response, None)``) or return a context
        manager that attends its flight (``(None, attend)``)."""
        rid = valid_request_id(rid)
        owner = current_principal().owner
        if self.pipeline is None or self.batcher is None:
            raise ServiceError(grpc.StatusCode.UNAVAILABLE, "the transmitter is still loading its weights")
        fp = fingerprint(request)
        done = self.state.finished(owner, rid)
        if done is not None:
            if done.fingerprint != fp:
                raise mismatch(rid)
            response = transmitter_pb2.SubmitResponse.FromString(done.response)
            response.replayed = True
            response.served_by = self.served_by
            return response, None
        deadline = time.monotonic() + remaining_s(context, self.s.downstream_timeout_s)
        key = f"{owner}/{rid}"                  # flights, like answers, live in the owner's namespace
        plan = None
        if self.flights.live(key, fp) is None:
            plan = self._validate(request, context, rid, owner, fp)
        return None, self.flights.attend(key, fp, deadline, lambda flight: self._start(flight, plan, request,
                                                                                        context, rid, owner), listen)

    def _start(self, flight: Flight, plan: Plan | None, request, context, rid: str, owner: str) -> None:
        if plan is None:            # the flight this caller meant to join ended in between: validate now
            plan = self._validate(request, context, rid, owner, flight.fingerprint)
        flight.progress("queued", 0, 1)
        self._runner.submit(self._fly, flight, plan)

    def _await(self, flight: Flight, context) -> transmitter_pb2.SubmitResponse:
        """Wait for the flight's answer within the caller's deadline (checking for a cancelled call)."""
        while True:
            left = remaining_s(context, self.s.downstream_timeout_s)
            if left <= 0:
                raise self._deadline_error()
            try:
                return flight.future.result(timeout=min(left, 0.25))
            except FutureTimeout:
                if not context.is_active():
                    raise ServiceError(grpc.StatusCode.CANCELLED, "cancelled by the client") from None

    @staticmethod
    def _deadline_error() -> ServiceError:
        return ServiceError(grpc.StatusCode.DEADLINE_EXCEEDED,
                            "deadline exceeded; the request may still complete: retry with the same request id to "
                            "get its answer")

    def _validate(self, request, context, rid: str, owner: str, fp: str) -> Plan:
        """Everything cheap first: instruction, budgets, channel, session, image (bounded decode)."""
        t_start = time.perf_counter()
        pipeline = self.pipeline
        if not request.HasField("channel"):
            raise InvalidArgumentError("the request has no channel parameters (snr_db, model)")
        snr = check_snr_db(request.channel.snr_db)
        scheme, generative = self._scheme(request)
        instruction = request.instruction.strip()
        if not instruction and scheme == "editdsc":
            raise InvalidArgumentError("the instruction is empty")
        if len(instruction) > MAX_INSTRUCTION_CHARS:
            raise InvalidArgumentError(f"the instruction has {len(instruction)} characters; the limit is "
                                       f"{MAX_INSTRUCTION_CHARS}")
        if not 0 <= request.inversion_steps <= self.s.max_inversion_steps:
            raise InvalidArgumentError(f"inversion_steps must lie in [0, {self.s.max_inversion_steps}]")
        if not 0 <= request.edit_steps <= self.s.max_edit_steps:
            raise InvalidArgumentError(f"edit_steps must lie in [0, {self.s.max_edit_steps}]")
        session_id = request.session_id
        if session_id:
            valid_id(session_id, "session id")
        if not request.image:
            if not session_id:
                raise InvalidArgumentError("an image is needed (or a session id to continue a conversation)")
            if self.state.session(owner, session_id) is None:
                raise ServiceError(grpc.StatusCode.NOT_FOUND,
                                   f"session {session_id} is unknown or expired; send the image again")
        t_parse = time.perf_counter()
        edit = pipeline.parse([instruction])[0] if scheme == "editdsc" else None
        parse_s = time.perf_counter() - t_parse
        channel = common_pb2.ChannelParams()
        channel.CopyFrom(request.channel)
        if request.HasField("seed"):
            channel.seed = request.seed
        elif not channel.HasField("seed"):
            # derived from the request id: a recomputed attempt of this request sees the same channel draw
            channel.seed = int.from_bytes(hashlib.sha256(f"{rid}|{fp}".encode()).digest()[:8], "big") >> 1
        try:
            check = self.channel.ValidateChannel(channel_pb2.ValidateChannelRequest(
                channel=channel, k=generative[1] if generative else self.k),
                                                 timeout=min(10.0, remaining_s(context, 10.0)),
                                                 metadata=self.security.outgoing(rid))
        except grpc.RpcError as exc:
            raise downstream_error(exc, "channel") from None
        image, image_sha256 = None, ""
        if request.image:
            image = load_image_tensor(bytes(request.image), pipeline.resolution)[0]   # (3, R, R)
            image_sha256 = hashlib.sha256(request.image).hexdigest()
            session_id = session_id or new_request_id()
        return Plan(rid=rid, owner=owner, fingerprint=fp, instruction=instruction, edit=edit, snr_db=snr, channel=channel,
                    channel_uses=check.channel_uses, image=image, session_id=session_id,
                    inversion_steps=request.inversion_steps or self.s.inversion_steps,
                    edit_steps=request.edit_steps or self.s.edit_steps, t_start=t_start,
                    image_sha256=image_sha256, return_ideal=request.return_ideal,
                    validate_s=time.perf_counter() - t_start, parse_s=parse_s, scheme=scheme,
                    generative=generative)

    def _scheme(self, request) -> tuple[str, tuple]:
        """The request's scheme and, for ``generative``, its checked (privacy, k, flow)."""
        scheme = request.scheme or "editdsc"
        if scheme not in ("editdsc", "generative"):
            raise InvalidArgumentError(f"unknown scheme {quote(scheme, 40)}; use editdsc or generative")
        if scheme == "editdsc":
            if request.HasField("generative"):
                raise InvalidArgumentError("generative parameters were given for the editdsc scheme")
            return scheme, ()
        gen = request.generative
        if gen.edit:
            raise InvalidArgumentError("generative.edit (JECC before the generative codec) is not available")
        if request.instruction.strip():
            raise InvalidArgumentError("the generative scheme takes no instruction (it sends the image as it is)")
        if not request.image:
            raise InvalidArgumentError("the generative scheme needs an image (it has no session follow-ups)")
        if self.generative is None:
            raise ServiceError(grpc.StatusCode.FAILED_PRECONDITION,
                               f"this transmitter cannot serve the generative scheme: {self._generative_missing}")
        privacy = gen.privacy or "none"
        k = gen.k or min(self.generative.bank.available_k())
        self.generative.check(privacy, k, not gen.no_flow)
        return scheme, (privacy, k, not gen.no_flow)

    # ------------------------------------------------------------------ the work (runner threads)
    def _fly(self, flight: Flight, plan: Plan) -> None:
        try:
            flight.future.set_result(self._execute(flight, plan))
        except BaseException as exc:  # noqa: BLE001 - handed to every waiter
            flight.future.set_exception(exc)
        finally:
            self.flights.finish(flight)

    def _session_lock(self, session_id: str):
        return self._session_locks[zlib.crc32(session_id.encode()) % SESSION_LOCKS]

    def _execute(self, flight: Flight, plan: Plan) -> transmitter_pb2.SubmitResponse:
        follow_up = plan.image is None
        with self._session_lock(plan.session_id) if follow_up else nullcontext():
            turn = 1
            w_start = None
            if follow_up:
                session: Session | None = self.state.session(plan.owner, plan.session_id)
                if session is None:
                    raise ServiceError(grpc.StatusCode.NOT_FOUND,
                                       f"session {plan.session_id} is unknown or expired; send the image again")
                w_start, turn = session.w, session.turn + 1
            if plan.scheme == "generative":
                return self._generative(flight, plan)
            out, batch_size, queue_s, compute_s = self._compute(flight, plan, w_start, turn)
            flight.computed = True
            return self._forward(flight, plan, out, turn, batch_size, queue_s, compute_s)

    def _compute(self, flight: Flight, plan: Plan, w_start, turn: int):
        """The model, or the output of an earlier attempt whose forward failed."""
        now = time.monotonic()
        with self._computed_lock:
            for key in [k for k, v in self._computed.items() if now - v[3] > COMPUTED_TTL_S]:
                del self._computed[key]
            kept = self._computed.get(f"{plan.owner}/{plan.rid}")
        if kept is not None and kept[0] == plan.fingerprint and kept[2] == turn:
            return kept[1], 0, 0.0, 0.0
        image, cache_key, hit = plan.image, None, None
        if image is not None:       # the same photo at the same r_inv: start from its stored inversion
            cache_key = InversionCache.key(plan.image_sha256, plan.inversion_steps, plan.owner)
            hit = self.inversions.get(cache_key)
            if hit is not None:
                image, w_start = None, hit.w
        job = Job(edit=plan.edit, snr_db=plan.snr_db, image=image, w_start=w_start,
                  inversion_steps=plan.inversion_steps, edit_steps=plan.edit_steps, progress=flight.progress,
                  cancelled=flight.cancelled)
        out = self.batcher.submit(job).result()
        if hit is not None:
            out = dataclasses.replace(out, inversion_lpips=hit.lpips,
                                      timings={**out.timings, "inversion_cache_hit": 1.0})
        elif cache_key is not None:
            self.inversions.put(cache_key, out.w_original, out.inversion_lpips)
            out.timings["inversion_cache_hit"] = 0.0
        queue_s, compute_s = job.started - job.enqueued, job.finished - job.started
        self.metrics.observe_queue("Submit", queue_s)
        self.metrics.observe_compute("Submit", compute_s)
        with self._computed_lock:
            self._computed[f"{plan.owner}/{plan.rid}"] = (plan.fingerprint, out, turn, time.monotonic())
            while len(self._computed) > COMPUTED_KEPT:
                self._computed.pop(next(iter(self._computed)))
        return out, job.batch_size, queue_s, compute_s

    def _forward(self, flight: Flight, plan: Plan, out: TxOutput, turn: int, batch_size: int, queue_s: float,
                 compute_s: float) -> transmitter_pb2.SubmitResponse:
        pipeline, rid = self.pipeline, plan.rid
        flight.progress("channel", 0, 1)
        cbr = channel_bandwidth_ratio(out.k, pipeline.resolution)
        tx_timings = {**out.timings, "parse_s": plan.parse_s, "validate_s": plan.validate_s, "queue_s": queue_s,
                      "compute_s": compute_s}
        info = common_pb2.RequestInfo(
            request_id=rid, session_id=plan.session_id, session_turn=turn, instruction=plan.instruction,
            edit=edit_to_proto(out.edit), outcome=outcome_to_proto(out.outcome), channel=plan.channel, k=out.k,
            cbr=cbr, resolution=pipeline.resolution, bundle_version=self.bundle.version, timings=tx_timings,
            inversion_lpips=out.inversion_lpips if out.inversion_lpips is not None else -1.0,
            submitted_unix=time.time(), principal=plan.owner)
        sent, timings = self._transmit(flight, rid, out.x, plan, info, tx_timings)
        response = transmitter_pb2.SubmitResponse(
            request_id=rid, session_id=plan.session_id, session_turn=turn, edit=info.edit, outcome=info.outcome,
            k=out.k, channel_uses=sent.report.channel_uses or plan.channel_uses, cbr=cbr, timings=timings,
            bundle_version=self.bundle.version, channel_report=sent.report,
            result_path=sent.delivery.result_path, batch_size=batch_size, inverted=plan.image is not None,
            served_by=self.served_by, scheme="editdsc")
        if plan.return_ideal:       # G(w_edit), the noiseless edit; recorded in the ledger with the answer
            response.ideal_png = self._render_png(out.w_edited)
        try:
            stored = self.state.commit(rid, plan.fingerprint, response.SerializeToString(),
                                       SessionWrite(plan.session_id, out.w_edited, turn, out.edit.to_dict(),
                                                    plan.owner))
        except SessionConflict:
            raise ServiceError(grpc.StatusCode.ABORTED,
                               f"session {plan.session_id} was advanced by another request meanwhile; "
                               "send the follow-up again with a new request id") from None
        with self._computed_lock:
            self._computed.pop(f"{plan.owner}/{rid}", None)
        if stored.response != response.SerializeToString():      # another attempt recorded first
            response = transmitter_pb2.SubmitResponse.FromString(stored.response)
            response.replayed = True
            response.served_by = self.served_by
        return response

    def _transmit(self, flight: Flight, rid: str, x, plan: Plan, info: common_pb2.RequestInfo,
                  tx_timings: dict[str, float]) -> tuple[channel_pb2.TransmitResponse, dict[str, float]]:
        """Send the symbols ``x`` (the real values of one request) through the channel service, which delivers them
        to the receiver; returns its answer and the request's timings (transmitter, channel, receiver, totals)."""
        t_ch = time.perf_counter()
        try:
            sent = self.channel.Transmit(
                channel_pb2.TransmitRequest(request_id=rid, symbols=tensor_to_proto(x.reshape(1, -1).float()),
                                            channel=plan.channel, info=info),
                timeout=max(self.s.forward_min_s, flight.seconds_left()), metadata=self.security.outgoing(rid))
        except grpc.RpcError as exc:
            raise downstream_error(exc, "channel") from None
        t_done = time.perf_counter()
        flight.progress("channel", 1, 1)
        timings = dict(tx_timings)
        timings.update({f"channel.{key}": v for key, v in sent.timings.items()})
        timings.update({f"receiver.{key}": v for key, v in sent.delivery.timings.items()})
        timings["forward_s"] = t_done - t_ch
        timings["total_s"] = t_done - plan.t_start
        return sent, timings

    def _generative(self, flight: Flight, plan: Plan) -> transmitter_pb2.SubmitResponse:
        """The generative scheme (Han et al.): invert, filter, encode (one image; not micro-batched), send."""
        privacy, k, flow = plan.generative
        flight.progress("inversion", 0, 1)
        t0 = time.perf_counter()
        seed = int.from_bytes(hashlib.sha256(f"privacy|{plan.rid}|{plan.fingerprint}".encode()).digest()[:8], "big")
        with self._generative_lock:
            out = self.generative.run(plan.image, privacy, k, flow, plan.inversion_steps, seed)
        compute_s = time.perf_counter() - t0
        self.metrics.observe_compute("Submit", compute_s)
        flight.progress("inversion", 1, 1)
        flight.computed = True
        flight.progress("channel", 0, 1)
        params = generative_to_proto(privacy, k, flow)
        cbr = channel_bandwidth_ratio(k, self.pipeline.resolution)
        tx_timings = {**out.timings, "parse_s": plan.parse_s, "validate_s": plan.validate_s, "compute_s": compute_s,
                      "privacy_bias": float(out.privacy.bias[0]), "privacy_distance": float(out.privacy.distance[0])}
        info = common_pb2.RequestInfo(
            request_id=plan.rid, session_id=plan.session_id, session_turn=1, instruction=plan.instruction,
            channel=plan.channel, k=k, cbr=cbr, resolution=self.pipeline.resolution,
            bundle_version=self.bundle.version, timings=tx_timings, inversion_lpips=-1.0, submitted_unix=time.time(),
            principal=plan.owner, scheme="generative", generative=params)
        sent, timings = self._transmit(flight, plan.rid, out.x, plan, info, tx_timings)
        response = transmitter_pb2.SubmitResponse(
            request_id=plan.rid, session_id=plan.session_id, session_turn=1, k=k,
            channel_uses=sent.report.channel_uses or plan.channel_uses, cbr=cbr, timings=timings,
            bundle_version=self.bundle.version, channel_report=sent.report, result_path=sent.delivery.result_path,
            batch_size=1, inverted=True, served_by=self.served_by, scheme="generative", generative=params)
        if plan.return_ideal:       # the face that was sent (after the privacy filter), without the channel
            response.ideal_png = self._render_png(out.w_sent)
        stored = self.state.commit(plan.rid, plan.fingerprint, response.SerializeToString(),
                                   SessionWrite(plan.session_id, out.w_sent, 1,
                                                {"scheme": "generative", "privacy": privacy, "k": k, "flow": flow},
                                                plan.owner))
        if stored.response != response.SerializeToString():      # another attempt recorded first
            response = transmitter_pb2.SubmitResponse.FromString(stored.response)
            response.replayed = True
            response.served_by = self.served_by
        return response

    def _render_png(self, w: torch.Tensor) -> bytes:
        """PNG of G(w) for one latent ``w`` (D,)."""
        with torch.no_grad():
            image = self.pipeline.generator.synthesis(w.reshape(1, -1).to(self.pipeline.device)).clamp(-1, 1)
        return encode_png(image[0].cpu())                                            # (3, R, R)


def build(settings: TransmitterServiceSettings | None = None):
    s = settings or TransmitterServiceSettings()
    if s.torch_threads > 0:
        torch.set_num_threads(s.torch_threads)
    metrics = ServiceMetrics("transmitter")
    security = Security(s, client_methods=CLIENT_METHODS)
    security.check_bind(s.host)
    server = Server(s.host, s.port, [SERVICE], max_workers=s.max_in_flight + 8,
                    max_message_bytes=s.max_message_bytes, credentials=security.server_credentials(),
                    interceptors=security.interceptors(metrics), max_connection_age_s=s.max_connection_age_s)
    servicer = TransmitterServicer(s, metrics, security, served_by=f"{s.host}:{server.port}")
    add_servicer(server.grpc, servicer, transmitter_pb2.DESCRIPTOR.services_by_name["TransmitterService"])
    if security.reflection:
        server.add_reflection()
    metrics.serve(s.metrics_port, s.metrics_host)
    return server, servicer


def main() -> int:
    s = load_settings(TransmitterServiceSettings)
    setup_logging(s.log_level, s.log_format)
    try:
        server, servicer = build(s)
    except EditDSCError as exc:
        raise SystemExit(f"transmitter: {exc}") from None
    servicer.security.reload_on_sighup()
    server.start()
    log.info("transmitter loading weights", extra={"address": server.address})
    servicer.load()
    server.set_serving()
    log.info("transmitter ready", extra={"address": server.address, "bundle": str(servicer.bundle.path),
                                         "device": str(servicer.bundle.device),
                                         "max_batch_size": s.max_batch_size, "channel": s.channel_address})
    server.run_until_signal(s.grace_s, on_stop=servicer.close)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
