"""`edsc send IMAGE "INSTRUCTION"`: submit to a running transmitter, show progress, fetch the result over HTTP.

The request carries an id (``--request-id``, else 128 random bits); ``UNAVAILABLE`` / ``RESOURCE_EXHAUSTED`` and a
stream that breaks off are retried with that id for ``--retry-for`` seconds (each retry one line on stderr), so a
restarting service costs time, never a duplicate: the services answer a known id from their record."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from shared.errors import InvalidArgumentError

DEFAULT_RETRY_FOR_S = 60.0


def register(subparsers) -> None:
    p = subparsers.add_parser("send", help="send an image + instruction through the running services",
                              description="Submit an edit to the transmitter (edsc up), follow its progress, fetch "
                                          "the edited image from the receiver and write it.")
    p.add_argument("image", nargs="?", help="PNG/JPEG photo (leave out with --session to continue a conversation)")
    p.add_argument("instruction", nargs="?", default=None,
                   help="the edit (Editable-DeepSC); none with --scheme generative")
    p.add_argument("--scheme", default="editdsc", choices=("editdsc", "generative"),
                   help="editdsc (edit, then send; default) or generative (Han et al.: invert into the generator's "
                        "head, privacy filter, flow, 2-layer FC codec)")
    p.add_argument("--privacy", default=None, choices=("none", "identity", "eyes"),
                   help="generative scheme: the private part the filter hides (default none)")
    p.add_argument("--k", type=int, default=None, help="generative scheme: real values sent, 16 or 160 "
                                                       "(default: the smallest the bundle ships)")
    p.add_argument("--no-flow", action="store_true", help="generative scheme: the variant without the flow")
    p.add_argument("--snr", type=float, default=12.0, help="channel SNR in dB (default 12)")
    p.add_argument("--channel", default="awgn", help="channel model: awgn | rayleigh | rician | tdl")
    p.add_argument("--csi", default=None, help="perfect | ls | none")
    p.add_argument("--k-factor-db", type=float, default=None, help="Rician K-factor")
    p.add_argument("--coherence", type=int, default=None, help="block-fading coherence in channel uses")
    p.add_argument("--doppler-hz", type=float, default=None)
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="any other channel parameter (repeatable), e.g. --param tdl_profile=C")
    p.add_argument("--seed", type=int, default=None, help="channel seed")
    p.add_argument("--session", default="", help="session id (a follow-up without IMAGE continues it)")
    p.add_argument("--request-id", default="",
                   help="idempotency key (default: 128 random bits); a retry with the same id returns the first answer")
    p.add_argument("--inversion-steps", type=int, default=0, help="r_inv (0: server default)")
    p.add_argument("--edit-steps", type=int, default=0, help="r_edit (0: server default)")
    p.add_argument("--transmitter", default="127.0.0.1:50051", metavar="HOST:PORT[,HOST:PORT…]",
                   help="one transmitter, a comma-separated list of replicas (IP:PORT) or dns:///NAME:PORT; calls "
                        "are spread round robin")
    p.add_argument("--receiver", default="http://127.0.0.1:8080", metavar="URL",
                   help="the receiver's HTTP base URL (https://… with TLS)")
    p.add_argument("--token", default=None, help="bearer token when the services use auth (default: EDSC_TOKEN)")
    p.add_argument("--ca", default=None, metavar="FILE",
                   help="CA certificate (PEM) when the services use TLS (default: EDSC_TLS_CA)")
    p.add_argument("--out", type=Path, default=None, help="output PNG (default: edited-<request id>.png)")
    p.add_argument("--timeout", type=float, default=600.0, help="deadline of one attempt in seconds (default 600)")
    p.add_argument("--retry-for", type=float, default=DEFAULT_RETRY_FOR_S, metavar="SECONDS",
                   help="retry UNAVAILABLE / RESOURCE_EXHAUSTED (and receiver fetches) with the same request id for "
                        f"this long (default {DEFAULT_RETRY_FOR_S:g}; 0: no retries)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    p.set_defaults(func=run)


def _value(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def channel_from_args(args: argparse.Namespace) -> dict:
    channel = {"model": args.channel}
    for name in ("csi", "k_factor_db", "coherence", "doppler_hz"):
        if getattr(args, name) is not None:
            channel[name] = getattr(args, name)
    for item in args.param:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise InvalidArgumentError(f"--param {item!r}: use NAME=VALUE")
        channel[name.strip()] = _value(value.strip())
    return channel


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from edsc.client import EditDSCClient, check_retry_for, new_request_id

    retry_for = check_retry_for(args.retry_for)
    if not args.timeout > 0:
        raise InvalidArgumentError(f"--timeout {args.timeout:g}: must be positive")
    request_id = args.request_id or new_request_id()
    generative = None
    if args.scheme == "editdsc":
        if args.privacy is not None or args.k is not None or args.no_flow:
            raise InvalidArgumentError("--privacy, --k and --no-flow belong to --scheme generative")
        if args.instruction is None:          # one positional: the instruction of a session follow-up
            if args.image is None:
                raise InvalidArgumentError("give an IMAGE and an INSTRUCTION")
            args.image, args.instruction = None, args.image
    else:
        if args.instruction is not None:
            raise InvalidArgumentError("--scheme generative takes no instruction (it sends the image as it is)")
        if args.session:
            raise InvalidArgumentError("--scheme generative has no session follow-ups; give an IMAGE")
        if args.k is not None and args.k <= 0:
            raise InvalidArgumentError(f"--k {args.k}: must be positive (16 or 160 with the built-in bundle)")
        generative = {"privacy": args.privacy or "none", "k": args.k or 0, "no_flow": bool(args.no_flow)}
        args.instruction = ""
    image = None
    if args.image:
        path = Path(args.image)
        if not path.is_file():
            raise InvalidArgumentError(f"image {path} does not exist")
        image = path.read_bytes()
    elif not args.session:
        raise InvalidArgumentError("give an IMAGE, or --session ID to continue a conversation")
    bars: dict[str, tqdm] = {}

    def progress(stage: str, step: int, total: int) -> None:
        if args.json and not sys.stderr.isatty():
            return
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = tqdm(total=total, desc=f"{stage:>9}", file=sys.stderr, leave=True)
        bar.n = step
        bar.refresh()

    with EditDSCClient(args.transmitter, args.receiver, timeout_s=args.timeout, retry_for_s=retry_for,
                       token=args.token, ca=args.ca) as client:
        try:
            result = client.submit(image, args.instruction, args.snr, channel_from_args(args), seed=args.seed,
                                   session_id=args.session, request_id=request_id,
                                   inversion_steps=args.inversion_steps, edit_steps=args.edit_steps,
                                   on_progress=progress, scheme=args.scheme if generative else "",
                                   generative=generative)
        finally:
            for bar in bars.values():
                bar.close()
        png = client.image(result["request_id"], wait_s=30)
    out = args.out or Path(f"edited-{result['request_id']}.png")
    from shared.atomic_io import write_bytes_atomic

    write_bytes_atomic(out, png)
    result["output"] = str(out)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    if result.get("scheme") == "generative":
        _print_generative(result, args.snr, out)
        return 0
    o, e = result["outcome"], result["edit"]
    edit_text = ", ".join(f"{k}={v}" for k, v in e.items() if v is not None)
    replayed = "; the stored answer of an earlier attempt" if result.get("replayed") else ""
    print(f"request   {result['request_id']}  (session {result['session_id']}, turn {result['session_turn']}"
          f"{replayed})")
    print(f"edit      {edit_text}")
    print(f"JECC      {o['status']} after {o['iterations']} steps; {o['attribute']} degree "
          f"{o['degrees_before']} -> {o['degrees_after']} (expected {o['expected_degree']})")
    print(f"channel   {result['channel_report'].get('model')} at {args.snr:g} dB, k={result['k']} reals, "
          f"{result['channel_uses']} channel uses, CBR {result['cbr']:.4f}")
    t = result["timings"]
    print(f"timings   total {t.get('total_s', 0):.2f} s (queue {t.get('queue_s', 0):.2f}, inversion "
          f"{t.get('inversion_s', 0):.2f}, JECC {t.get('jecc_s', 0):.2f}, forward {t.get('forward_s', 0):.2f})")
    print(f"bundle    {result['bundle_version']}" + (f"  (served by {result['served_by']})" if result.get("served_by")
                                                      else ""))
    print(f"wrote     {out}")
    return 0


def _print_generative(result: dict, snr: float, out: Path) -> None:
    g = result["generative"]
    t = result["timings"]
    print(f"request   {result['request_id']}" + ("  (the stored answer of an earlier attempt)"
                                                  if result.get("replayed") else ""))
    print(f"scheme    generative (Han et al.), privacy {g['privacy']}, "
          f"{'with' if g['flow'] else 'without'} the flow")
    print(f"channel   {result['channel_report'].get('model')} at {snr:g} dB, k={g['k_real']} reals = "
          f"{g['k_complex']} complex uses, {result['channel_uses']} channel uses with pilots")
    print(f"CBR       {g['cbr_real']:.3g} (reals / source reals; 1/{1 / g['cbr_real']:.0f}), "
          f"{g['cbr_complex']:.3g} (complex uses / source reals; 1/{1 / g['cbr_complex']:.0f})")
    print(f"timings   total {t.get('total_s', 0):.2f} s (inversion {t.get('inversion_s', 0):.2f}, "
          f"forward {t.get('forward_s', 0):.2f})")
    print(f"bundle    {result['bundle_version']}")
    print(f"wrote     {out}")
