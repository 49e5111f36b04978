"""The plan of a load test: what the CLI hands to the load-generator process, and the per-request schedule.

A :class:`Plan` is plain data (JSON on disk). Its request templates are serialized ``SubmitRequest`` messages built
and checked by the CLI; the load generator only sets the SNR, the channel seed and the request id of a copy, so it
needs nothing but the generated protobuf classes (no torch, no channel code).

This module imports neither Locust nor torch: both processes and the tests use it.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import math
import random
import struct
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

from shared.errors import InvalidArgumentError

#: The SNR range the services accept (shared.channel.limits.SNR_RANGE_DB, repeated here to keep this module light).
SNR_MIN_DB, SNR_MAX_DB = -30.0, 40.0
SNR_MODES = ("sweep", "random")
ARRIVALS = ("poisson", "constant")


@dataclass
class Template:
    """One (image, instruction) pair and its serialized ``SubmitRequest`` (base64)."""

    image: str                 # a short name: the file name, or "synthface" / "astronaut" for the built-ins
    instruction: str
    request_b64: str
    reference_id: str = ""     # request id of its reference (noise-free) result, "" when LPIPS is off


@dataclass
class Stage:
    """One load level: closed loop at ``concurrency`` users, or open loop at ``rate`` arrivals per second."""

    index: int
    concurrency: Optional[int] = None
    rate: Optional[float] = None
    arrivals: str = "poisson"

    @property
    def mode(self) -> str:
        return "open" if self.rate is not None else "closed"

    @property
    def level(self) -> float:
        """The load level: users (closed loop) or requests/s (open loop)."""
        return float(self.rate if self.rate is not None else self.concurrency)


@dataclass
class Plan:
    """Everything the load generator needs; one JSON file.

    Parameters
    ----------
    transmitter, receiver : the gRPC address (HOST:PORT, a comma-separated list of IP:PORT replicas, or
        ``dns:///NAME:PORT``) and the HTTP base URL
    tls_ca : PEM CA file that verifies the transmitter (gRPC over TLS) and an ``https://`` receiver; "" for plain
        text. The bearer token is never part of the plan: the load process reads it from ``EDSC_TOKEN``.
    run_id : prefix of every request id of the run (unique per run)
    snrs, snr_mode : the SNR list (dB) and how requests walk it: ``sweep`` (round-robin) or ``random``
    channel : the channel model name (for the records; the templates carry the parameters)
    requests, duration_s : each stage ends when this many requests were issued or this much time has passed,
        whichever comes first (at least one of them is set); requests still in flight then are waited for
    stages : the load levels, run one after the other
    templates : the (image, instruction) pairs; requests walk them round-robin (sweep) or draw them (random)
    seed : base of the channel seeds and of the random draws
    timeout_s : gRPC deadline of one Submit attempt; fetch_wait_s : the receiver's long-poll for the image
    retry_for_s : how long a request retries ``UNAVAILABLE`` / ``RESOURCE_EXHAUSTED`` (same request id) and image
        fetches that meet a connection error or HTTP 503 (0: no retries)
    raw_path : where the load generator appends one JSON line per request
    images_dir : where it writes each received PNG (for LPIPS); "" to not keep them
    reuse_images : send each template's image bytes unchanged, so that the transmitter's inversion cache answers
        the repeats; by default every request's image carries its request id (:func:`distinct_image`), so every
        request is inverted, as a new photo would be
    """

    transmitter: str
    receiver: str
    run_id: str
    snrs: list[float]
    snr_mode: str
    channel: str
    stages: list[Stage]
    templates: list[Template]
    raw_path: str
    images_dir: str = ""
    requests: Optional[int] = None
    duration_s: Optional[float] = None
    seed: int = 0
    timeout_s: float = 600.0
    fetch_wait_s: float = 10.0
    retry_for_s: float = 60.0
    tls_ca: str = ""
    reuse_images: bool = False
    extra: dict = field(default_factory=dict)      # settings recorded in summary.json, unused by the runner

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> "Plan":
        d = json.loads(text)
        d["stages"] = [Stage(**s) for s in d["stages"]]
        d["templates"] = [Template(**t) for t in d["templates"]]
        return cls(**d)

    def save(self, path: Path) -> Path:
        Path(path).write_text(self.to_json())
        return Path(path)

    @classmethod
    def load(cls, path: Path) -> "Plan":
        return cls.from_json(Path(path).read_text())


@dataclass(frozen=True)
class RequestSpec:
    """What one request of the schedule sends."""

    request_id: str
    ticket: int                # index of the request within its stage
    stage: int
    snr_db: float
    template: int              # index into Plan.templates
    seed: int                  # channel seed


class Schedule:
    """Turns the tickets of a stage (0, 1, 2, ...) into :class:`RequestSpec` s, deterministically for a seed.

    ``sweep`` walks the SNR list round-robin and moves to the next template after each full SNR cycle;
    ``random`` draws both from a generator seeded by (seed, stage). The channel seed of a request is
    ``seed + 1_000_000 * stage + ticket``.
    """

    def __init__(self, plan: Plan, stage: int):
        self.plan = plan
        self.stage = stage
        self._rng = random.Random(plan.seed * 7919 + stage)

    def spec(self, ticket: int) -> RequestSpec:
        snrs, n_tpl = self.plan.snrs, len(self.plan.templates)
        if self.plan.snr_mode == "random":
            snr, tpl = self._rng.choice(snrs), self._rng.randrange(n_tpl)
        else:
            snr, tpl = snrs[ticket % len(snrs)], (ticket // len(snrs)) % n_tpl
        rid = f"{self.plan.run_id}-s{self.stage}-{ticket:05d}"
        return RequestSpec(request_id=rid, ticket=ticket, stage=self.stage, snr_db=float(snr), template=tpl,
                           seed=int(self.plan.seed) + 1_000_000 * self.stage + ticket)


def encode_request(message) -> str:
    """A protobuf message → base64 text (for the plan file)."""
    return base64.b64encode(message.SerializeToString()).decode("ascii")


def decode_request(text: str, message_cls):
    """Inverse of :func:`encode_request`."""
    return message_cls.FromString(base64.b64decode(text))


# ---------------------------------------------------------------------------------------------- parsing the flags

def parse_snr_list(text: str) -> list[float]:
    """``"-6,6,18"`` → ``[-6.0, 6.0, 18.0]``; every value finite and within [−30, 40] dB, at least one.

    Raises
    ------
    InvalidArgumentError
        an empty list, a value that is not a number, or one outside the range.
    """
    items = [s.strip() for s in str(text).split(",")]
    if not items or any(not s for s in items):
        raise InvalidArgumentError(f"--snr {text!r}: give a comma-separated list of numbers in dB, e.g. -6,6,18")
    out = []
    for s in items:
        try:
            v = float(s)
        except ValueError:
            raise InvalidArgumentError(f"--snr: {s!r} is not a number (dB)") from None
        if not math.isfinite(v) or not SNR_MIN_DB <= v <= SNR_MAX_DB:
            raise InvalidArgumentError(f"--snr: {s} dB is outside [{SNR_MIN_DB:g}, {SNR_MAX_DB:g}] dB")
        out.append(v)
    return out


def parse_positive_list(text: str, name: str, kind=int) -> list:
    """``"1,2,4"`` → ``[1, 2, 4]`` (``kind`` int or float, every value > 0)."""
    out = []
    for s in str(text).split(","):
        s = s.strip()
        try:
            v = kind(s)
        except ValueError:
            raise InvalidArgumentError(f"{name}: {s!r} is not a{'n integer' if kind is int else ' number'}") from None
        if not (v > 0 and math.isfinite(v)):
            raise InvalidArgumentError(f"{name}: {s} must be positive")
        out.append(v)
    return out


def parse_address(text: str, name: str = "--transmitter") -> str:
    """Check a gRPC ``HOST:PORT`` (IPv6 in brackets)."""
    host, sep, port = str(text).rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidArgumentError(f"{name} {text!r}: use HOST:PORT, e.g. 127.0.0.1:50051")
    return text


def parse_transmitter(text: str, name: str = "--transmitter") -> str:
    """Check a transmitter address: ``HOST:PORT``, replicas ``IP:PORT,IP:PORT,...`` (IPv4 literals) or
    ``dns:///NAME:PORT`` (every address the name resolves to). Returns it without spaces.

    Raises
    ------
    InvalidArgumentError
        a malformed address, a replica that is not an IPv4 literal, or a replica listed twice.
    """
    text = str(text).strip()
    if text.startswith("dns:"):
        rest = text[len("dns:"):]
        if not rest.startswith("///"):
            raise InvalidArgumentError(f"{name} {text!r}: use dns:///NAME:PORT, e.g. dns:///transmitter:50051")
        parse_address(rest[3:], name)
        return text
    if "," not in text:
        return parse_address(text, name)
    parts = [a.strip() for a in text.split(",")]
    if any(not a for a in parts):
        raise InvalidArgumentError(f"{name} {text!r}: an empty entry in the replica list")
    for a in parts:
        parse_address(a, name)
        host = a.rpartition(":")[0]
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise InvalidArgumentError(f"{name}: replica {a!r}: a replica list takes IPv4 literals "
                                       "(IP:PORT,IP:PORT); for host names use dns:///NAME:PORT") from None
    if len(set(parts)) != len(parts):
        raise InvalidArgumentError(f"{name} {text!r}: a replica is listed twice")
    return ",".join(parts)


def replica_addresses(transmitter: str) -> list[str]:
    """The addresses to health-check one by one: every replica of a list, else the address itself."""
    return transmitter.split(",") if "," in transmitter else [transmitter]


def tls_channel_options(transmitter: str) -> list[tuple[str, str]]:
    """Extra gRPC channel options of a TLS channel to ``transmitter``: a replica list has no single host name, so
    the certificates are verified against the first replica's host (``grpc.default_authority``); none otherwise."""
    if "," not in transmitter:
        return []
    return [("grpc.default_authority", transmitter.split(",")[0].rpartition(":")[0])]


def parse_url(text: str, name: str = "--receiver") -> str:
    """Check an ``http(s)://host[:port]`` base URL; returns it without a trailing slash."""
    from urllib.parse import urlparse

    try:
        u = urlparse(str(text))
        port = u.port            # raises ValueError on a bad port
    except ValueError:
        u, port = None, None
    if u is None or u.scheme not in ("http", "https") or not u.hostname or u.query or u.fragment:
        raise InvalidArgumentError(f"{name} {text!r}: use an http(s) base URL, e.g. http://127.0.0.1:8080")
    del port
    return str(text).rstrip("/")


def distinct_image(data: bytes, nonce: str) -> bytes:
    """The same picture in other bytes: ``data`` (PNG or JPEG) with ``nonce`` in a PNG ``tEXt`` chunk after the
    header or a JPEG comment segment after the start marker. Decoded pixels are unchanged; the bytes' hash is not.

    Parameters
    ----------
    data : bytes
        A PNG or JPEG file.
    nonce : str
        ASCII text, at most 200 characters (a request id).
    """
    text = nonce.encode("ascii")
    if len(text) > 200:
        raise InvalidArgumentError("the image nonce is longer than 200 characters")
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        ihdr_end = 8 + 8 + struct.unpack(">I", data[8:12])[0] + 4    # signature, length + type, data, CRC
        body = b"tEXt" + b"edsc-nonce\x00" + text
        chunk = struct.pack(">I", len(body) - 4) + body + struct.pack(">I", zlib.crc32(body))
        return data[:ihdr_end] + chunk + data[ihdr_end:]
    if data[:2] == b"\xff\xd8":
        segment = b"\xff\xfe" + struct.pack(">H", len(text) + 2) + text
        return data[:2] + segment + data[2:]
    raise InvalidArgumentError("a load-test image must be PNG or JPEG")
