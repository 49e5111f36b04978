"""Hostile input against the running services (real processes on loopback, tiny random bundle).

Property-based fuzzing (hypothesis) of every RPC's fields, of image bytes and of raw message bytes, and schemathesis
over the receiver's OpenAPI (positive and negative cases). Every answer must use a documented status code (never
INTERNAL / UNKNOWN / HTTP 5xx), quote at most a short piece of the input and show no Python reprs; the services
must be healthy afterwards. The counts per category are printed and written to build/hostile-inputs.json.
"""

from __future__ import annotations

import io
import json
import re
import time
from collections import Counter
from pathlib import Path

import grpc
import httpx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from shared.config import REPO_ROOT
from shared.rpc.editdsc.v1 import channel_pb2, common_pb2, receiver_pb2, transmitter_pb2
from shared.rpc.healthcheck import health_status

pytestmark = pytest.mark.slow

DOCUMENTED = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
              grpc.StatusCode.ALREADY_EXISTS, grpc.StatusCode.ABORTED, grpc.StatusCode.RESOURCE_EXHAUSTED,
              grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.DEADLINE_EXCEEDED}
REPR = re.compile(r"<[A-Za-z_][\w.]* object at 0x|Traceback|File \"")
def fuzz(n: int) -> settings:
    return settings(max_examples=n, deadline=None, suppress_health_check=list(HealthCheck), database=None)

TALLY: dict[str, Counter] = {}
SECONDS: Counter = Counter()


@pytest.fixture(scope="module")
def stack(service_stack):
    yield service_stack
    out = {k: dict(v) for k, v in TALLY.items()}
    print("seconds per category:", {k: round(v, 1) for k, v in SECONDS.items()})
    total = sum(sum(v.values()) for v in TALLY.values())
    path = REPO_ROOT / "build" / "hostile-inputs.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"total": total, "by_category": out}, indent=2))
    print("hostile inputs:", json.dumps({"total": total, "by_category": out}))


def record(category: str, code) -> None:
    TALLY.setdefault(category, Counter())[code.name if hasattr(code, "name") else str(code)] += 1


def call(category: str, fn, request, timeout: float = 30.0, stream: bool = False):
    t0 = time.monotonic()
    try:
        out = fn(request, timeout=timeout)
        if stream:
            out = list(out)
        record(category, grpc.StatusCode.OK)
        return out
    except grpc.RpcError as exc:
        code, details = exc.code(), exc.details() or ""
        record(category, code)
        assert code in DOCUMENTED, f"{category}: {code.name}: {details[:300]}"
        assert len(details) <= 1000, f"{category}: a {len(details)}-character message"
        assert not REPR.search(details), f"{category}: a Python repr or traceback in {details[:300]!r}"
        return None
    finally:
        SECONDS[category] += time.monotonic() - t0


# ---------------------------------------------------------------------------------------------- strategies
def _png(seed: int, size: int, fmt: str = "PNG") -> bytes:
    arr = (np.random.default_rng(seed).random((size, size, 3)) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt)
    return buf.getvalue()


GOOD_IMAGES = [_png(0, 64), _png(1, 80, "JPEG")]
OTHER_FORMATS = [_png(2, 64, "GIF"), _png(3, 64, "BMP"), _png(4, 64, "TIFF"), _png(5, 40, "WEBP")]
INSTRUCTIONS = ["make the bangs longer", "add glasses", "a bit more", "make her smile", "make the nose bigger",
                "!!!???...", "", "   ", "x" * 600]
text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300)
images = st.one_of(st.sampled_from(GOOD_IMAGES), st.sampled_from(OTHER_FORMATS), st.binary(max_size=2000),
                   st.sampled_from(GOOD_IMAGES).flatmap(lambda b: st.integers(0, len(b)).map(lambda n: b[:n])),
                   st.just(b""))
ids = st.one_of(st.from_regex(r"[A-Za-z0-9._-]{1,20}", fullmatch=True), text, st.just(""))
floats = st.floats(allow_nan=True, allow_infinity=True, width=64)
i64 = st.integers(-2**63, 2**63 - 1)


@st.composite
def channel_params(draw):
    msg = common_pb2.ChannelParams(model=draw(st.integers(0, 6)), snr_db=draw(st.one_of(floats, st.floats(-10, 20))),
                                   csi=draw(st.integers(0, 5)), power_mode=draw(st.integers(0, 3)))
    for name, strat in (("k_factor_db", floats), ("coherence", i64), ("doppler_hz", floats), ("speed_kmh", floats),
                        ("carrier_frequency_hz", floats), ("symbol_rate_hz", floats),
                        ("tdl_profile", st.one_of(text, st.sampled_from("ABCDE"), st.just("Z" * 100_000))),
                        ("delay_spread_s", floats), ("fft_size", i64), ("subcarrier_spacing_hz", floats),
                        ("cp_length", i64), ("pilots", i64), ("pilot_spacing", i64), ("power", floats),
                        ("seed", st.integers(0, 2**64 - 1))):
        if draw(st.integers(0, 4)) == 0:
            setattr(msg, name, draw(strat))
    return msg


@st.composite
def tensors(draw):
    dtype = draw(st.integers(0, 9))
    shape = draw(st.lists(st.integers(-2, 700), max_size=4))
    if draw(st.booleans()):
        size = int(np.prod([max(0, s) for s in shape])) if shape else 1
        width = {1: 4, 2: 8, 3: 8, 4: 8, 5: 4, 6: 1, 7: 1}.get(dtype, 4)
        data = draw(st.binary(min_size=0, max_size=64)) if size * width > 40_000 else \
            np.random.default_rng(draw(st.integers(0, 99))).standard_normal(size * width // 4 + 1).astype(
                np.float32).tobytes()[: size * width]
    else:
        data = draw(st.binary(max_size=3000))
    return common_pb2.Tensor(data=data, dtype=dtype, shape=shape)


layouts = st.one_of(
    st.just('{"n_data": 256, "unit_slots": 256}'), text, st.just("[]"), st.just("null"),
    st.recursive(st.one_of(st.integers(-5, 10**6), st.booleans(), st.text(max_size=5), st.none()),
                 lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(
                     st.sampled_from(["n_data", "unit_slots", "pilot_slots", "n_subcarriers", "trailing_pilot",
                                      "estimation", "cp_length", "zzz"]), c, max_size=6)),
                 max_leaves=12).map(json.dumps))


@st.composite
def side_infos(draw):
    msg = common_pb2.SideInfo(snr_db=draw(st.one_of(floats, st.floats(-10, 20))), no=draw(floats),
                              es=draw(st.one_of(floats, st.just(1.0))), csi=draw(st.integers(0, 99)),
                              k=draw(st.one_of(st.just(512), st.integers(-5, 10**6))), model=draw(text),
                              layout_json=draw(layouts))
    for name in ("h", "pilots", "tx_gain"):
        if draw(st.booleans()):
            getattr(msg, name).CopyFrom(draw(tensors()))
    return msg


@st.composite
def request_infos(draw):
    return common_pb2.RequestInfo(
        request_id=draw(ids), session_id=draw(ids), session_turn=draw(st.integers(-2**31, 2**31 - 1)),
        instruction=draw(st.one_of(text, st.just("y" * 5000))), k=draw(st.integers(-2**31, 2**31 - 1)),
        cbr=draw(floats), bundle_version=draw(text), inversion_lpips=draw(floats), submitted_unix=draw(floats),
        timings=draw(st.dictionaries(text, floats, max_size=5)),
        edit=common_pb2.Edit(attribute=draw(text), mode=draw(text)),
        outcome=common_pb2.EditOutcome(status=draw(text), degrees_before=draw(st.lists(st.integers(-9, 9),
                                                                                         max_size=80))))


# ---------------------------------------------------------------------------------------------- gRPC fuzzing
@st.composite
def submits(draw):
    req = transmitter_pb2.SubmitRequest(
        image=draw(images), instruction=draw(st.one_of(st.sampled_from(INSTRUCTIONS), text)),
        session_id=draw(st.one_of(st.just(""), ids)), request_id=draw(ids),
        inversion_steps=draw(st.sampled_from([0, 1, 2, -1, 1001, 2**31 - 1])),
        edit_steps=draw(st.sampled_from([0, 1, 2, -3, 5000])))
    if draw(st.integers(0, 5)):
        req.channel.CopyFrom(draw(st.one_of(channel_params(), st.just(common_pb2.ChannelParams(
            model=common_pb2.CHANNEL_MODEL_AWGN, snr_db=6.0)))))
    if draw(st.booleans()):
        req.seed = draw(st.integers(0, 2**64 - 1))
    return req


@st.composite
def near_valid_submits(draw):
    """A valid request with exactly one hostile field (so the later stages see hostile input too)."""
    req = transmitter_pb2.SubmitRequest(image=GOOD_IMAGES[0], instruction="make the bangs longer",
                                        request_id=f"nv-{draw(st.integers(0, 2**62))}", inversion_steps=1,
                                        edit_steps=1,
                                        channel=common_pb2.ChannelParams(model=common_pb2.CHANNEL_MODEL_AWGN,
                                                                         snr_db=6.0))
    field = draw(st.sampled_from(["image", "instruction", "channel", "session_id", "seed", "steps", "scheme"]))
    if field == "image":
        req.image = draw(images)
    elif field == "instruction":
        req.instruction = draw(st.one_of(st.sampled_from(INSTRUCTIONS), text))
    elif field == "channel":
        req.channel.CopyFrom(draw(channel_params()))
    elif field == "session_id":
        req.session_id = draw(ids)
    elif field == "seed":
        req.seed = draw(st.integers(0, 2**64 - 1))
    elif field == "scheme":
        req.scheme = draw(st.one_of(st.sampled_from(["", "editdsc", "generative", "GENERATIVE", "jpeg"]), text))
        if draw(st.booleans()):
            req.generative.CopyFrom(draw(generative_params()))
        if draw(st.booleans()):
            req.instruction = ""
        req.return_ideal = draw(st.booleans())
    else:
        req.inversion_steps = draw(st.integers(-5, 3))
        req.edit_steps = draw(st.integers(-5, 3))
    return req


@st.composite
def generative_params(draw):
    return common_pb2.GenerativeParams(
        privacy=draw(st.one_of(st.sampled_from(["", "none", "identity", "eyes", "nose"]), text)),
        k=draw(st.one_of(st.sampled_from([0, 16, 160, 15, 512, -1]), st.integers(-2**31, 2**31 - 1))),
        no_flow=draw(st.booleans()), edit=draw(st.booleans()))


def test_submit_one_hostile_field(stack):
    @fuzz(120)
    @given(req=near_valid_submits())
    def run(req):
        call("Submit (one hostile field)", stack["tx"].Submit, req, timeout=60)
    run()


def test_submit_fields(stack):
    @fuzz(250)
    @given(req=submits())
    def run(req):
        call("Submit", stack["tx"].Submit, req, timeout=60)
    run()


def test_parse_fields(stack):
    @fuzz(80)
    @given(instruction=st.one_of(st.sampled_from(INSTRUCTIONS), text, st.just("z" * 100_000)))
    def run(instruction):
        call("Parse", stack["tx"].Parse, transmitter_pb2.ParseRequest(instruction=instruction))
    run()


def test_submit_stream_fields(stack):
    @fuzz(60)
    @given(req=submits())
    def run(req):
        call("SubmitStream", stack["tx"].SubmitStream, transmitter_pb2.SubmitStreamRequest(submit=req), timeout=60,
             stream=True)
    run()


def test_channel_fields(stack):
    @fuzz(150)
    @given(params=st.one_of(channel_params(), st.none()), k=st.integers(-2**31, 2**31 - 1))
    def validate(params, k):
        req = channel_pb2.ValidateChannelRequest(k=k)
        if params is not None:
            req.channel.CopyFrom(params)
        call("ValidateChannel", stack["ch"].ValidateChannel, req)

    @fuzz(150)
    @given(params=st.one_of(channel_params(), st.none()), symbols=tensors(), rid=ids, info=request_infos())
    def transmit(params, symbols, rid, info):
        req = channel_pb2.TransmitRequest(request_id=rid, symbols=symbols, info=info)
        if params is not None:
            req.channel.CopyFrom(params)
        call("Transmit", stack["ch"].Transmit, req)

    validate()
    transmit()


def test_deliver_fields(stack):
    @fuzz(220)
    @given(rid=ids, received=tensors(), side=side_infos(), info=request_infos(), eq=st.one_of(
        st.sampled_from(["", "mmse", "zf", "none"]), text))
    def run(rid, received, side, info, eq):
        call("Deliver", stack["rx"].Deliver, receiver_pb2.DeliverRequest(
            request_id=rid, received=received, side_info=side, info=info, equalizer=eq,
            channel_report=common_pb2.ChannelReport(report_json=json.dumps({"model": "awgn"}))))
    run()


METHODS = [("transmitter", "/editdsc.v1.TransmitterService/Submit", False),
           ("transmitter", "/editdsc.v1.TransmitterService/SubmitStream", True),
           ("transmitter", "/editdsc.v1.TransmitterService/Parse", False),
           ("channel", "/editdsc.v1.ChannelService/Transmit", False),
           ("channel", "/editdsc.v1.ChannelService/ValidateChannel", False),
           ("receiver", "/editdsc.v1.ReceiverService/Deliver", False)]


def test_raw_message_bytes(stack):
    raws = [((stack["channels"][svc].unary_stream if streaming else stack["channels"][svc].unary_unary)(
        method, request_serializer=lambda b: b, response_deserializer=lambda b: b), streaming)
        for svc, method, streaming in METHODS]

    @fuzz(200)
    @given(which=st.integers(0, len(METHODS) - 1), data=st.binary(max_size=400))
    def run(which, data):
        fn, streaming = raws[which]
        call("raw bytes", fn, data, stream=streaming)
    run()


def test_services_healthy_afterwards(stack):
    for name, addr in stack["launcher"].addresses.items():
        assert health_status(addr, timeout=5) == "SERVING", name
    assert stack["launcher"].dead() is None


# ---------------------------------------------------------------------------------------------- HTTP: schemathesis
def test_receiver_openapi(stack):
    import schemathesis
    from schemathesis import GenerationMode

    schema = schemathesis.openapi.from_url(f"{stack['http']}/openapi.json")
    for result in schema.get_all_operations():
        op = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            if op.label in ("GET /metrics", "GET /healthz", "GET /readyz") and mode == GenerationMode.NEGATIVE:
                continue

            @fuzz(70)
            @given(case=op.as_strategy(generation_mode=mode))
            def run(case):
                if isinstance(case.query, dict) and isinstance(case.query.get("wait"), (int, float)):
                    case.query["wait"] = min(case.query["wait"], 0.05)    # long waits are tested elsewhere
                response = case.call(timeout=30)
                record(f"HTTP {op.label}", response.status_code)
                assert response.status_code < 500, (op.label, response.status_code, response.text[:300])
                if response.status_code >= 400:
                    body = response.json()
                    assert "detail" in body
                    assert not REPR.search(json.dumps(body)), body
                    assert len(json.dumps(body)) < 4000, len(json.dumps(body))
            run()
    assert httpx.get(f"{stack['http']}/readyz", timeout=5).status_code == 200
    total = sum(sum(v.values()) for v in TALLY.values())
    assert total >= 1000, f"only {total} generated cases"
