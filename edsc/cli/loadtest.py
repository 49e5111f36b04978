"""`edsc loadtest`: load-test the running services and write requests.csv, summary.json, plots and report.md.

Submits edits to the transmitter over gRPC and fetches the results from the receiver's HTTP API, with Locust in a
separate, gevent-patched process (``python -m edsc.loadtest.runner``; this process stays un-patched). Stages run at
a fixed concurrency (closed loop; ``--sweep-concurrency`` for several levels) or at an open-loop arrival rate
(``--rate``). A request that meets ``UNAVAILABLE`` / ``RESOURCE_EXHAUSTED`` is sent again with the same request
id (and an image fetch that meets a connection error or HTTP 503 is repeated) for ``--retry-for`` seconds; the
``attempts`` / ``fetch_attempts`` columns count them. Every received image is scored by LPIPS against a noise-free
reference of the same edit. See docs/LOADTEST.md.

``--token`` (default ``EDSC_TOKEN``) is sent as ``authorization: Bearer …`` on every gRPC call and HTTP fetch, and
handed to the load process through its environment only: it is written to no file. ``--ca`` (default
``EDSC_TLS_CA``) makes the gRPC channel TLS and verifies an ``https://`` receiver with that CA. ``--transmitter`` may
list replicas (``IP:PORT,IP:PORT``) or name them (``dns:///NAME:PORT``): calls go round robin, each row records the
replica that answered (``served_by``) and the summary counts them per replica.

Output (in ``--out``)
---------------------
``requests.csv`` (one row per request), ``summary.json``, ``latency_over_time.png``, ``latency_vs_load.png``,
``throughput.png``, ``lpips_vs_snr.png``, ``errors_by_code.png``, ``stage_breakdown.png``, ``report.md``,
``references/`` (the reference PNGs), ``raw/`` (the plan, the runner's JSON lines, ``stages.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from edsc.cli.send import DEFAULT_RETRY_FOR_S
from edsc.client import CA_ENV, TOKEN_ENV
from shared.errors import EditDSCError, InvalidArgumentError

DEFAULT_REQUESTS = 20


def register(subparsers) -> None:
    p = subparsers.add_parser("loadtest", help="load-test the running services (Locust; CSV, summary, plots, report)",
                              description="Send edits to a running transmitter at a fixed concurrency or arrival "
                                          "rate, fetch the results over HTTP, and write requests.csv, summary.json, "
                                          "plots and report.md into --out.")
    g = p.add_argument_group("services")
    g.add_argument("--transmitter", default="127.0.0.1:50051", metavar="ADDRESS",
                   help="HOST:PORT, replicas IP:PORT,IP:PORT,... or dns:///NAME:PORT (default 127.0.0.1:50051)")
    g.add_argument("--receiver", default="http://127.0.0.1:8080", metavar="URL")
    g.add_argument("--token", default=None,
                   help=f"bearer token when the services use auth (default: {TOKEN_ENV}; never written to a file)")
    g.add_argument("--ca", default=None, metavar="FILE",
                   help=f"CA certificate (PEM) when the services use TLS (default: {CA_ENV})")
    g = p.add_argument_group("load")
    g.add_argument("--requests", type=int, default=None, metavar="N",
                   help=f"requests per stage (default {DEFAULT_REQUESTS} unless --duration is given)")
    g.add_argument("--duration", type=float, default=None, metavar="SECONDS",
                   help="time bound per stage; a stage ends at whichever of --requests / --duration comes first")
    g.add_argument("--concurrency", type=int, default=None, metavar="N", help="closed-loop users (default 1)")
    g.add_argument("--sweep-concurrency", default=None, metavar="LIST",
                   help="one closed-loop stage per level, e.g. 1,2,4")
    g.add_argument("--rate", default=None, metavar="R[,R...]",
                   help="open loop: arrivals per second (a list: one stage per rate) instead of fixed concurrency")
    g.add_argument("--arrivals", choices=("poisson", "constant"), default="poisson",
                   help="open-loop inter-arrival times: exponential (Poisson) or constant (default poisson)")
    g.add_argument("--timeout", type=float, default=600.0,
                   help="gRPC deadline of one attempt of a request (s, default 600)")
    g.add_argument("--retry-for", type=float, default=DEFAULT_RETRY_FOR_S, metavar="SECONDS",
                   help="retry UNAVAILABLE / RESOURCE_EXHAUSTED with the same request id, and image fetches that meet "
                        f"a connection error or HTTP 503, for this long (default {DEFAULT_RETRY_FOR_S:g}; 0: off)")
    g = p.add_argument_group("requests")
    g.add_argument("--snr", default="-6,6,18", metavar="LIST", help="SNRs in dB, comma-separated (default -6,6,18)")
    g.add_argument("--snr-mode", choices=("sweep", "random"), default="sweep",
                   help="walk the SNRs round-robin or draw them at random (default sweep)")
    g.add_argument("--channel", default="awgn", help="awgn | rayleigh | rician | tdl (default awgn)")
    g.add_argument("--csi", default=None, help="perfect | ls | none")
    g.add_argument("--reuse-images", action="store_true",
                   help="send the images' bytes unchanged, so the transmitter's inversion cache answers repeats "
                        "(default: each request's image carries its request id in a PNG text chunk / JPEG comment: "
                        "same pixels, new bytes, so every request is inverted)")
    g.add_argument("--k-factor-db", type=float, default=None, help="Rician K-factor (needed for rician)")
    g.add_argument("--coherence", type=int, default=None, help="block-fading coherence in channel uses")
    g.add_argument("--doppler-hz", type=float, default=None)
    g.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="any other channel parameter (repeatable), e.g. --param tdl_profile=C")
    g.add_argument("--image", action="append", type=Path, default=None, metavar="PATH",
                   help="input image (repeatable; default: a built-in SynthFace face)")
    g.add_argument("--instruction", action="append", default=None, metavar="TEXT",
                   help="instruction (repeatable; default: three built-in ones)")
    g.add_argument("--seed", type=int, default=0, help="base of the channel seeds and random draws (default 0)")
    g.add_argument("--inversion-steps", type=int, default=0, help="r_inv (0: server default)")
    g.add_argument("--edit-steps", type=int, default=0, help="r_edit (0: server default)")
    g = p.add_argument_group("output")
    g.add_argument("--out", type=Path, default=Path("loadtest-out"), help="output folder (default loadtest-out)")
    g.add_argument("--no-lpips", action="store_true", help="skip the reference requests and LPIPS")
    g.add_argument("--keep-images", action="store_true", help="keep every received PNG in OUT/images")
    g.add_argument("--json", action="store_true", help="print summary.json on stdout")
    p.set_defaults(func=run)


# ============================================================================================ checking the input

def stages_from_args(args: argparse.Namespace) -> list:
    """The stages the flags ask for (closed loop at each concurrency, or open loop at each rate)."""
    from edsc.loadtest.plan import Stage, parse_positive_list

    if args.rate is not None and (args.concurrency is not None or args.sweep_concurrency is not None):
        raise InvalidArgumentError("--rate (open loop) and --concurrency / --sweep-concurrency (closed loop) "
                                   "exclude each other")
    if args.concurrency is not None and args.sweep_concurrency is not None:
        raise InvalidArgumentError("give --concurrency or --sweep-concurrency, not both")
    if args.rate is not None:
        rates = parse_positive_list(args.rate, "--rate", float)
        return [Stage(index=i, rate=r, arrivals=args.arrivals) for i, r in enumerate(rates)]
    if args.sweep_concurrency is not None:
        levels = parse_positive_list(args.sweep_concurrency, "--sweep-concurrency", int)
    else:
        levels = parse_positive_list(str(1 if args.concurrency is None else args.concurrency), "--concurrency", int)
    return [Stage(index=i, concurrency=c) for i, c in enumerate(levels)]


def check_bounds(args: argparse.Namespace) -> tuple:
    """(requests, duration_s) per stage; requests defaults to 20 when neither is given."""
    if args.requests is not None and args.requests < 1:
        raise InvalidArgumentError(f"--requests {args.requests}: must be at least 1")
    if args.duration is not None and not args.duration > 0:
        raise InvalidArgumentError(f"--duration {args.duration}: must be positive")
    if not args.timeout > 0:
        raise InvalidArgumentError(f"--timeout {args.timeout}: must be positive")
    from edsc.client import check_retry_for

    check_retry_for(args.retry_for)
    if args.inversion_steps < 0 or args.edit_steps < 0:
        raise InvalidArgumentError("--inversion-steps / --edit-steps must be >= 0")
    requests = args.requests if (args.requests is not None or args.duration is not None) else DEFAULT_REQUESTS
    return requests, args.duration


def check_channel(channel: dict, snrs: list) -> None:
    """Every (channel parameters, SNR) must make a valid ChannelConfig (the services would refuse it)."""
    from channel_emulator.config import ChannelConfig
    from shared.rpc.convert import channel_params_from_dict

    channel_params_from_dict({**channel, "snr_db": snrs[0]})       # unknown names, bad values
    for snr in snrs:
        try:
            ChannelConfig(**{**channel, "snr_db": snr})
        except TypeError as exc:
            raise InvalidArgumentError(f"channel parameters {channel}: {exc}") from None


_TOKEN_RE = re.compile(r"[\x21-\x7e]+")


def check_security(args: argparse.Namespace) -> tuple[str, str]:
    """(token, CA file) from --token / --ca or their environment variables ("" when unset).

    Raises
    ------
    InvalidArgumentError
        a token with spaces or non-printable characters (the message never shows it), a CA file that does not
        exist or is not PEM.
    """
    import ssl

    token_from = "--token" if args.token is not None else TOKEN_ENV
    token = (os.environ.get(TOKEN_ENV, "") if args.token is None else args.token).strip()
    if token and not _TOKEN_RE.fullmatch(token):
        raise InvalidArgumentError(f"{token_from}: the token must be printable ASCII without spaces (its value is "
                                   "not shown)")
    ca_from = "--ca" if args.ca is not None else CA_ENV
    ca = (os.environ.get(CA_ENV, "") if args.ca is None else args.ca).strip()
    if ca:
        if not os.path.isfile(ca):
            raise InvalidArgumentError(f"{ca_from} {ca}: no such file")
        try:
            ssl.create_default_context(cafile=ca)
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise InvalidArgumentError(f"{ca_from} {ca}: not a PEM CA certificate ({exc})") from None
        ca = str(Path(ca).resolve())
    return token, ca


def _refused(what: str, where: str, token: str, code: str, details: str) -> EditDSCError:
    details = " ".join(str(details).split())[:200]
    if token:
        return EditDSCError(f"the {what} at {where} refused the token ({code}: {details}); check --token / "
                            f"{TOKEN_ENV}")
    return EditDSCError(f"the {what} at {where} needs a bearer token ({code}: {details}); give --token TOKEN or set "
                        f"{TOKEN_ENV}")


def check_services(transmitter: str, receiver: str, token: str = "", ca: str = "") -> None:
    """Every transmitter replica must report SERVING and the receiver's /readyz answer 200, and both must accept
    the token (an empty Submit, which an authenticated caller gets back as INVALID_ARGUMENT, and
    ``GET /v1/results?limit=1``), else a clear error."""
    import ssl

    import grpc
    import httpx

    from edsc.loadtest.plan import replica_addresses, tls_channel_options
    from shared.rpc.editdsc.v1 import transmitter_pb2, transmitter_pb2_grpc
    from shared.rpc.healthcheck import health_status
    from shared.rpc.serving import channel_options
    from shared.rpc.targets import balanced_target
    from shared.tls import client_credentials

    credentials = client_credentials(ca) if ca else None
    for address in replica_addresses(transmitter):
        status = health_status(address, timeout=3.0, credentials=credentials)
        if status != "SERVING":
            what = "is not reachable" if status == "UNREACHABLE" else f"reports {status}"
            hint = "start the services with `edsc up`" + ("" if ca else "; if it uses TLS, give --ca")
            raise EditDSCError(f"the transmitter at {address} {what} ({hint})")
    target, balance = balanced_target(transmitter)
    options = channel_options(1 << 20) + balance
    channel = (grpc.secure_channel(target, credentials, options=options + tls_channel_options(transmitter))
               if credentials is not None else grpc.insecure_channel(target, options=options))
    metadata = (("authorization", f"Bearer {token}"),) if token else ()
    with channel:
        try:
            transmitter_pb2_grpc.TransmitterServiceStub(channel).Submit(transmitter_pb2.SubmitRequest(),
                                                                        timeout=10.0, metadata=metadata)
        except grpc.RpcError as exc:
            if exc.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
                raise _refused("transmitter", transmitter, token, exc.code().name, exc.details() or "") from None
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    verify = ssl.create_default_context(cafile=ca) if ca else True
    try:
        with httpx.Client(base_url=receiver, timeout=5.0, headers=headers, verify=verify) as http:
            r = http.get("/readyz")
            if r.status_code != 200:
                raise EditDSCError(f"the receiver at {receiver} is not ready (GET /readyz answered {r.status_code})")
            r = http.get("/v1/results", params={"limit": 1})
    except httpx.HTTPError as exc:
        raise EditDSCError(f"the receiver at {receiver} is not reachable ({type(exc).__name__}: {exc})") from None
    if r.status_code in (401, 403):
        try:
            details = r.json().get("detail", "")
        except ValueError:
            details = r.text
        raise _refused("receiver", receiver, token, f"HTTP {r.status_code}", details)


# ============================================================================================ the run

def _inputs(args: argparse.Namespace) -> list[tuple[str, bytes]]:
    from edsc.loadtest.quality import builtin_image, read_image

    if not args.image:
        return [builtin_image()]
    return [(path.name, read_image(path)) for path in args.image]


def _spawn_runner(plan_path: Path, token: str = "") -> int:
    """Run the Locust process to its end; Ctrl-C stops it gracefully (what was recorded is still analysed).
    The token reaches it through its environment only."""
    from shared.config import REPO_ROOT

    env = dict(os.environ)
    env.pop(TOKEN_ENV, None)
    if token:
        env[TOKEN_ENV] = token
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    try:                                  # its output goes to stderr, so that stdout stays the summary (--json)
        out = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        out = None
    proc = subprocess.Popen([sys.executable, "-m", "edsc.loadtest.runner", str(plan_path)], env=env, stdout=out)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        return 130


def _load_text(stages: list, arrivals: str) -> str:
    if stages[0].mode == "open":
        return f"open loop at {', '.join(f'{s.rate:g}' for s in stages)} requests/s ({arrivals})"
    return f"closed loop at concurrency {', '.join(str(s.concurrency) for s in stages)}"


def check_input(args: argparse.Namespace) -> dict:
    """Every check that needs no load: flags, services, channel, images, LPIPS weights (EditDSCError on a problem).

    Output
    ------
    dict: transmitter, receiver, token, ca, snrs, stages, requests, duration, channel, inputs [(name, bytes)],
    instructions, lpips (bool)
    """
    from edsc.cli.send import channel_from_args
    from edsc.loadtest.plan import parse_snr_list, parse_transmitter, parse_url
    from edsc.loadtest.quality import DEFAULT_INSTRUCTIONS, check_lpips_available

    c = {"transmitter": parse_transmitter(args.transmitter), "receiver": parse_url(args.receiver),
         "snrs": parse_snr_list(args.snr), "stages": stages_from_args(args), "channel": channel_from_args(args)}
    c["token"], c["ca"] = check_security(args)
    c["requests"], c["duration"] = check_bounds(args)
    if args.instruction is not None and any(not t.strip() for t in args.instruction):
        raise InvalidArgumentError("--instruction: an instruction is empty")
    check_services(c["transmitter"], c["receiver"], c["token"], c["ca"])
    check_channel(c["channel"], c["snrs"])
    c["inputs"] = _inputs(args)
    c["instructions"] = list(args.instruction or DEFAULT_INSTRUCTIONS)
    c["lpips"] = not args.no_lpips
    if c["lpips"]:
        check_lpips_available()
    return c


def make_plan(args: argparse.Namespace, c: dict, out: Path):
    """Templates (image x instruction; with their references when LPIPS is on), stages and settings → a Plan."""
    from edsc.client import EditDSCClient
    from edsc.loadtest.plan import Plan, Template, encode_request
    from edsc.loadtest.quality import send_references

    run_id = f"lt{uuid.uuid4().hex[:10]}"
    pairs = [(name, data, text) for name, data in c["inputs"] for text in c["instructions"]]
    templates = [Template(image=name, instruction=text, request_b64=encode_request(EditDSCClient.build_request(
        data, text, c["snrs"][0], c["channel"], seed=args.seed, inversion_steps=args.inversion_steps,
        edit_steps=args.edit_steps))) for name, data, text in pairs]
    if c["lpips"]:
        print(f"edsc loadtest: sending {len(pairs)} reference request(s) at 40 dB", file=sys.stderr, flush=True)
        with EditDSCClient(c["transmitter"], c["receiver"], timeout_s=args.timeout, retry_for_s=args.retry_for,
                           token=c["token"], ca=c["ca"]) as client:
            ref_ids = send_references(client, [(d, t) for _, d, t in pairs], run_id=run_id, seed=args.seed,
                                      inversion_steps=args.inversion_steps, edit_steps=args.edit_steps,
                                      timeout_s=args.timeout, out_dir=out / "references")
        for tpl, rid in zip(templates, ref_ids):
            tpl.reference_id = rid
    settings = {"transmitter": c["transmitter"], "receiver": c["receiver"], "snrs": c["snrs"],
                "snr_mode": args.snr_mode, "channel": c["channel"]["model"], "channel_params": c["channel"],
                "load": _load_text(c["stages"], args.arrivals), "requests": c["requests"],
                "duration_s": c["duration"], "stages": [s.__dict__ for s in c["stages"]], "seed": args.seed,
                "images": [name for name, _ in c["inputs"]], "instructions": c["instructions"],
                "inversion_steps": args.inversion_steps or "server default",
                "edit_steps": args.edit_steps or "server default", "timeout_s": args.timeout,
                "retry_for_s": args.retry_for, "run_id": run_id, "reuse_images": args.reuse_images,
                "auth": "bearer token" if c["token"] else "none", "tls_ca": c["ca"] or None,
                "replicas": replica_list(c["transmitter"])}
    raw = out / "raw"
    return Plan(transmitter=c["transmitter"], receiver=c["receiver"], run_id=run_id, snrs=c["snrs"],
                snr_mode=args.snr_mode, channel=c["channel"]["model"], stages=c["stages"], templates=templates,
                raw_path=str(raw / "requests.jsonl"),
                images_dir=str(out / "images") if (c["lpips"] or args.keep_images) else "",
                requests=c["requests"], duration_s=c["duration"], seed=args.seed, timeout_s=args.timeout,
                retry_for_s=args.retry_for, tls_ca=c["ca"], reuse_images=args.reuse_images, extra=settings)


def replica_list(transmitter: str) -> list[str]:
    """The replicas the address names (one entry for a single address or a ``dns:///`` name)."""
    return transmitter.split(",")


def balanced(transmitter: str) -> bool:
    """True when the address names several replicas (a list, or a ``dns:///`` name that may resolve to several)."""
    return "," in transmitter or transmitter.startswith("dns:")


def analyse(out: Path, plan, lpips_on: bool, machine: dict, t0: float) -> dict:
    """The runner's records → LPIPS → requests.csv → summary.json, plots, report.md; returns the summary."""
    from edsc.loadtest import analysis
    from edsc.loadtest.quality import lpips_note, score_lpips

    raw = Path(plan.raw_path)
    rows = analysis.load_raw(raw) if raw.is_file() else []
    if not rows:
        raise EditDSCError("no request was recorded")
    if lpips_on:
        score_lpips(rows, out / "references")
    columns, flat = analysis.flatten(rows)
    analysis.write_csv(out / "requests.csv", columns, flat)
    table = analysis.read_csv(out / "requests.csv")
    stages_file = raw.with_name("stages.json")
    stages_run = json.loads(stages_file.read_text()) if stages_file.is_file() else []
    summary = {"settings": plan.extra, "machine": machine, "started_unix": t0, "wall_s": time.time() - t0,
               "bundle_version": next((r["bundle_version"] for r in table if r.get("bundle_version")), None),
               "lpips_reference": lpips_note(lpips_on),
               **analysis.summarize(table, stages_run, replicas=balanced(plan.transmitter))}
    plots = analysis.make_plots(table, summary, out)
    summary["plots"] = [p.name for p in plots]
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    analysis.write_report(summary, plots, out / "report.md")
    return summary


def run(args: argparse.Namespace) -> int:
    from edsc.loadtest.analysis import machine_info

    checked = check_input(args)
    out = Path(args.out)
    raw = out / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for stale in ("requests.jsonl", "stages.json"):
        (raw / stale).unlink(missing_ok=True)
    plan = make_plan(args, checked, out)
    plan_path = plan.save(raw / "plan.json")
    machine, t0 = machine_info(), time.time()
    code = _spawn_runner(plan_path, checked["token"])
    if code not in (0, 130):
        raise EditDSCError(f"the load generator failed (exit status {code}); its messages are above")
    summary = analyse(out, plan, checked["lpips"], machine, t0)
    if not args.keep_images and (out / "images").is_dir():
        shutil.rmtree(out / "images")
    _print_summary(summary, out, args.json)
    return code


def _print_summary(summary: dict, out: Path, as_json: bool) -> None:
    o = summary["overall"]
    lat = o["latency_s"]
    if o["count"] and not o["ok"]:
        codes = ", ".join(o["errors_by_code"])
        print(f"edsc loadtest: warning: every request failed ({codes}); see the error column of requests.csv",
              file=sys.stderr)
    if as_json:
        print(json.dumps(summary, indent=2))
        return

    def f(v):
        return "-" if v is None else f"{v:.3f}"

    print(f"requests  {o['count']} ({o['ok']} OK), {f(o['throughput_rps'])} req/s, latency p50 {f(lat['p50'])} s, "
          f"p95 {f(lat['p95'])} s, p99 {f(lat['p99'])} s")
    for snr, g in summary["per_snr"].items():
        print(f"{snr:>6} dB  {g['count']} requests, p50 {f(g['latency_s']['p50'])} s, LPIPS {f(g['mean_lpips'])}, "
              f"errors {g['errors_by_code'] or 'none'}")
    for addr, g in summary.get("per_replica", {}).items():
        print(f"replica   {addr}: {g['count']} answered ({100 * g['share']:.0f} %), p50 {f(g['latency_s']['p50'])} s")
    print(f"wrote     {out}/requests.csv, summary.json, report.md and {len(summary['plots'])} plots")
