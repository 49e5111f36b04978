"""edsc.loadtest.plan (flag parsing, the request schedule, the plan file) and edsc.loadtest.recorder (joining the
Locust events of a request into one JSON line). Neither imports Locust or gevent."""

from __future__ import annotations

import json
import sys
from types import SimpleNamespace

import grpc
import pytest

from edsc.loadtest.plan import (Plan, Schedule, Stage, Template, decode_request, encode_request, parse_address,
                                parse_positive_list, parse_snr_list, parse_transmitter, parse_url,
                                replica_addresses)
from edsc.loadtest.recorder import Recorder, grpc_code_name
from shared.errors import InvalidArgumentError
from shared.rpc.editdsc.v1 import common_pb2, transmitter_pb2


def test_loadtest_modules_do_not_patch_this_process():
    import edsc.cli.loadtest  # noqa: F401
    import edsc.loadtest.analysis  # noqa: F401
    assert "gevent" not in sys.modules and "locust" not in sys.modules


@pytest.mark.parametrize("text, expected", [("-6,6,18", [-6.0, 6.0, 18.0]), (" 0 ", [0.0]), ("40,-30", [40.0, -30.0])])
def test_parse_snr_list(text, expected):
    assert parse_snr_list(text) == expected


@pytest.mark.parametrize("text, match", [("", "comma-separated"), ("1,,2", "comma-separated"), ("6,x", "not a number"),
                                         ("41", "outside"), ("nan", "outside"), ("-31", "outside")])
def test_parse_snr_list_rejects(text, match):
    with pytest.raises(InvalidArgumentError, match=match):
        parse_snr_list(text)


def test_parse_other_flags():
    assert parse_positive_list("1,2,4", "--sweep-concurrency") == [1, 2, 4]
    assert parse_positive_list("0.5", "--rate", float) == [0.5]
    for bad in ("0", "1,-2", "a"):
        with pytest.raises(InvalidArgumentError):
            parse_positive_list(bad, "--sweep-concurrency")
    assert parse_address("127.0.0.1:50051") == "127.0.0.1:50051" and parse_address("[::1]:5") == "[::1]:5"
    for bad in ("localhost", ":50051", "h:0", "h:99999", "h:port"):
        with pytest.raises(InvalidArgumentError, match="HOST:PORT"):
            parse_address(bad)
    assert parse_url("http://127.0.0.1:8080/") == "http://127.0.0.1:8080"
    for bad in ("127.0.0.1:8080", "ftp://h", "http://", "http://h:notaport", "http://h/?q=1"):
        with pytest.raises(InvalidArgumentError, match="http"):
            parse_url(bad)


def test_parse_transmitter_replicas():
    assert parse_transmitter("127.0.0.1:50051") == "127.0.0.1:50051"
    assert parse_transmitter(" 10.0.0.1:5, 10.0.0.2:5 ") == "10.0.0.1:5,10.0.0.2:5"
    assert replica_addresses("10.0.0.1:5,10.0.0.2:5") == ["10.0.0.1:5", "10.0.0.2:5"]
    assert parse_transmitter("dns:///transmitter:50051") == "dns:///transmitter:50051"
    assert replica_addresses("dns:///transmitter:50051") == ["dns:///transmitter:50051"]
    for bad, match in [("10.0.0.1:5,host:5", "IPv4 literals"), ("10.0.0.1:5,[::1]:5", "IPv4 literals"),
                       ("10.0.0.1:5,10.0.0.1:5", "listed twice"), ("10.0.0.1:5,", "empty entry"),
                       ("10.0.0.1:5,10.0.0.2", "HOST:PORT"), ("dns://transmitter:50051", "dns:///NAME:PORT"),
                       ("dns:///transmitter", "HOST:PORT")]:
        with pytest.raises(InvalidArgumentError, match=match):
            parse_transmitter(bad)


def make_plan(tmp_path, snr_mode="sweep", n_templates=2) -> Plan:
    req = transmitter_pb2.SubmitRequest(image=b"png", instruction="add glasses",
                                        channel=common_pb2.ChannelParams(model=common_pb2.CHANNEL_MODEL_AWGN))
    templates = [Template(image=f"img{i}", instruction="add glasses", request_b64=encode_request(req))
                 for i in range(n_templates)]
    return Plan(transmitter="h:1", receiver="http://h:2", run_id="ltabc", snrs=[-6.0, 6.0, 18.0], snr_mode=snr_mode,
                channel="awgn", stages=[Stage(0, concurrency=2), Stage(1, rate=1.5, arrivals="constant")],
                templates=templates, raw_path=str(tmp_path / "r.jsonl"), requests=6, seed=5)


def test_schedule_sweep_is_round_robin(tmp_path):
    sched = Schedule(make_plan(tmp_path), stage=1)
    specs = [sched.spec(i) for i in range(7)]
    assert [s.snr_db for s in specs] == [-6.0, 6.0, 18.0, -6.0, 6.0, 18.0, -6.0]
    assert [s.template for s in specs] == [0, 0, 0, 1, 1, 1, 0]
    assert specs[3].request_id == "ltabc-s1-00003" and specs[3].seed == 5 + 1_000_000 + 3


def test_schedule_random_is_seeded(tmp_path):
    plan = make_plan(tmp_path, "random")

    def draws(stage):
        sched = Schedule(plan, stage)
        return [(s.snr_db, s.template) for s in map(sched.spec, range(30))]

    assert draws(0) == draws(0) and draws(0) != draws(1)
    assert {d[0] for d in draws(0)} == {-6.0, 6.0, 18.0} and {d[1] for d in draws(0)} == {0, 1}


def test_plan_json_round_trip(tmp_path):
    plan = make_plan(tmp_path)
    back = Plan.load(plan.save(tmp_path / "plan.json"))
    assert back == plan and back.stages[1].mode == "open" and back.stages[0].level == 2.0
    msg = decode_request(back.templates[0].request_b64, transmitter_pb2.SubmitRequest)
    assert msg.instruction == "add glasses" and msg.image == b"png"


class FakeRpcError(grpc.RpcError):
    def code(self):
        return grpc.StatusCode.RESOURCE_EXHAUSTED

    def details(self):
        return "queue full"


def test_grpc_code_name():
    assert grpc_code_name(None) == "OK"
    assert grpc_code_name(FakeRpcError()) == "RESOURCE_EXHAUSTED"
    assert grpc_code_name(RuntimeError("x")) == "UNKNOWN"


def test_recorder_joins_the_grpc_and_http_events(tmp_path):
    rec = Recorder(tmp_path / "r.jsonl", tmp_path / "images")
    response = transmitter_pb2.SubmitResponse(
        request_id="a", outcome=common_pb2.EditOutcome(status="already_at_target", attribute="eyeglasses",
                                                       iterations=0),
        batch_size=3, k=512, timings={"total_s": 0.4, "receiver.store_s": 0.01}, served_by="10.0.0.2:50051")
    rec.begin("a", snr_db=6.0, stage=0)
    rec.begin("b", snr_db=18.0, stage=0)
    assert rec.in_flight == 2
    rec.on_request("grpc", "/editdsc.v1.TransmitterService/Submit", 500.0, response=response,
                   context={"request_id": "a"})
    rec.on_request("GET", "/v1/results/{id}/image.png", 20.0, response=SimpleNamespace(status_code=200, content=b"PNG"),
                   context={"request_id": "a"})
    rec.on_request("grpc", "/editdsc.v1.TransmitterService/Submit", 3.0, exception=FakeRpcError(),
                   context={"request_id": "b"})
    rec.on_request("GET", "/other", 1.0, context={"request_id": "unknown"})       # ignored
    a, b = rec.finish("a"), rec.finish("b")
    rec.close()
    assert a["status"] == "OK" and a["http_status"] == 200 and a["e2e_s"] == pytest.approx(0.52)
    assert a["jecc_status"] == "already_at_target" and a["edit_success"] is True and a["batch_size"] == 3
    assert a["served_by"] == "10.0.0.2:50051" and "served_by" not in b
    assert a["timings"] == {"total_s": pytest.approx(0.4), "receiver.store_s": pytest.approx(0.01)}
    assert (tmp_path / "images" / "a.png").read_bytes() == b"PNG" and a["image_path"].endswith("a.png")
    assert b["status"] == "RESOURCE_EXHAUSTED" and b["error"] == "queue full" and b["e2e_s"] == pytest.approx(0.003)
    assert b["fetch_s"] is None and b["snr_db"] == 18.0
    lines = [json.loads(x) for x in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert [x["request_id"] for x in lines] == ["a", "b"] and rec.in_flight == 0


def test_recorder_spans_retried_attempts(tmp_path):
    rec = Recorder(tmp_path / "r.jsonl")
    ok = transmitter_pb2.SubmitResponse(request_id="a", outcome=common_pb2.EditOutcome(status="reached"))
    rec.begin("a", stage=0)
    name = "/editdsc.v1.TransmitterService/Submit"
    rec.on_request("grpc", name, 100.0, exception=FakeRpcError(), context={"request_id": "a"}, start_time=1000.0)
    rec.on_request("grpc", name, 400.0, response=ok, context={"request_id": "a"}, start_time=1001.0)
    rec.on_request("GET", "/img", 50.0, response=SimpleNamespace(status_code=0), exception=ConnectionError("refused"),
                   context={"request_id": "a"}, start_time=1002.0)
    rec.on_request("GET", "/img", 20.0, response=SimpleNamespace(status_code=200, content=b"PNG"),
                   context={"request_id": "a"}, start_time=1003.0)
    row = rec.finish("a")
    rec.close()
    assert row["status"] == "OK" and row["error"] == "" and row["jecc_status"] == "reached"
    assert row["attempts"] == 2 and row["fetch_attempts"] == 2 and row["http_status"] == 200
    assert row["submit_s"] == pytest.approx(1.4) and row["fetch_s"] == pytest.approx(1.02)
    assert not any(k.startswith("_") for k in json.loads((tmp_path / "r.jsonl").read_text()))


def test_plan_without_retry_window_reads_the_default(tmp_path):
    plan = make_plan(tmp_path)
    d = json.loads(plan.to_json())
    del d["retry_for_s"]
    assert Plan.from_json(json.dumps(d)).retry_for_s == 60.0
    plan.retry_for_s = 0.0
    assert Plan.from_json(plan.to_json()).retry_for_s == 0.0


def test_plan_keeps_the_ca_and_has_no_token_field(tmp_path):
    plan = make_plan(tmp_path)
    assert Plan.from_json(plan.to_json()).tls_ca == ""
    plan.tls_ca = "/etc/edsc/ca.pem"
    assert Plan.from_json(plan.to_json()).tls_ca == "/etc/edsc/ca.pem"
    assert "token" not in json.loads(plan.to_json())


def test_distinct_image_changes_bytes_not_pixels():
    import hashlib
    import io

    import numpy as np
    from PIL import Image

    from edsc.loadtest.plan import distinct_image
    from shared.errors import InvalidArgumentError

    rgb = np.random.default_rng(0).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    for fmt in ("PNG", "JPEG"):
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, format=fmt)
        data = buf.getvalue()
        a, b = distinct_image(data, "run-1.r000001"), distinct_image(data, "run-1.r000002")
        assert len({hashlib.sha256(x).hexdigest() for x in (data, a, b)}) == 3
        for x in (a, b):
            with Image.open(io.BytesIO(x)) as im:
                im.load()
                assert np.array_equal(np.asarray(im.convert("RGB")), np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))
    with pytest.raises(InvalidArgumentError):
        distinct_image(b"GIF89a....", "x")
