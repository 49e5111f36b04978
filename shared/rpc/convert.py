"""Conversions between proto messages and the model core's plain types (dicts, Edit, EditOutcome, SideInfo)."""

from __future__ import annotations

import json
import math
from typing import Any, Mapping

import torch

from shared.channel.csi import SideInfo
from shared.channel.limits import check_snr_db
from shared.errors import InvalidArgumentError
from shared.rpc.editdsc.v1 import common_pb2 as pb
from shared.rpc.status import quote
from shared.rpc.tensors import tensor_from_proto, tensor_to_proto

MODEL_NAMES = {pb.CHANNEL_MODEL_UNSPECIFIED: "awgn", pb.CHANNEL_MODEL_AWGN: "awgn",
               pb.CHANNEL_MODEL_RAYLEIGH: "rayleigh", pb.CHANNEL_MODEL_RICIAN: "rician", pb.CHANNEL_MODEL_TDL: "tdl"}
MODEL_CODES = {"awgn": pb.CHANNEL_MODEL_AWGN, "rayleigh": pb.CHANNEL_MODEL_RAYLEIGH,
               "rician": pb.CHANNEL_MODEL_RICIAN, "tdl": pb.CHANNEL_MODEL_TDL}
CSI_NAMES = {pb.CSI_MODE_UNSPECIFIED: "perfect", pb.CSI_MODE_PERFECT: "perfect", pb.CSI_MODE_LS: "ls",
             pb.CSI_MODE_NONE: "none"}
CSI_CODES = {"perfect": pb.CSI_MODE_PERFECT, "ls": pb.CSI_MODE_LS, "none": pb.CSI_MODE_NONE}
POWER_NAMES = {pb.POWER_MODE_UNSPECIFIED: "equal", pb.POWER_MODE_EQUAL: "equal", pb.POWER_MODE_MAX: "max"}
POWER_CODES = {"equal": pb.POWER_MODE_EQUAL, "max": pb.POWER_MODE_MAX}
_OPTIONAL = ("k_factor_db", "coherence", "doppler_hz", "speed_kmh", "carrier_frequency_hz", "symbol_rate_hz",
             "tdl_profile", "delay_spread_s", "fft_size", "subcarrier_spacing_hz", "cp_length", "pilots",
             "pilot_spacing", "power", "seed")


def channel_params_to_dict(msg: pb.ChannelParams) -> dict[str, Any]:
    """Keyword arguments of ``ChannelConfig`` (unset optional fields are left out)."""
    if msg.model not in MODEL_NAMES:
        raise InvalidArgumentError(f"unknown channel model code {msg.model}")
    if msg.csi not in CSI_NAMES:
        raise InvalidArgumentError(f"unknown CSI mode code {msg.csi}")
    if msg.power_mode not in POWER_NAMES:
        raise InvalidArgumentError(f"unknown power mode code {msg.power_mode}")
    out: dict[str, Any] = {"model": MODEL_NAMES[msg.model], "snr_db": float(msg.snr_db),
                           "csi": CSI_NAMES[msg.csi], "power_mode": POWER_NAMES[msg.power_mode]}
    for name in _OPTIONAL:
        if msg.HasField(name):
            out[name] = getattr(msg, name)
    return out


def channel_params_from_dict(d: Mapping[str, Any]) -> pb.ChannelParams:
    """Inverse of :func:`channel_params_to_dict`; unknown names raise InvalidArgumentError."""
    d = dict(d)
    model = str(d.pop("model", "awgn")).lower()
    csi = str(d.pop("csi", "perfect")).lower()
    power_mode = str(d.pop("power_mode", "equal")).lower()
    if model not in MODEL_CODES:
        raise InvalidArgumentError(f"unknown channel model {quote(model, 40)}; use one of {', '.join(MODEL_CODES)}")
    if csi not in CSI_CODES:
        raise InvalidArgumentError(f"unknown CSI mode {quote(csi, 40)}; use one of {', '.join(CSI_CODES)}")
    if power_mode not in POWER_CODES:
        raise InvalidArgumentError(f"unknown power mode {quote(power_mode, 40)}; use one of {', '.join(POWER_CODES)}")
    if "snr_db" not in d:
        raise InvalidArgumentError("the channel needs snr_db")
    msg = pb.ChannelParams(model=MODEL_CODES[model], snr_db=float(d.pop("snr_db")), csi=CSI_CODES[csi],
                           power_mode=POWER_CODES[power_mode])
    for name, value in d.items():
        if name not in _OPTIONAL:
            raise InvalidArgumentError(f"unknown channel parameter {quote(name, 40)}")
        if value is None:
            continue
        try:
            setattr(msg, name, value)
        except (TypeError, ValueError) as exc:
            raise InvalidArgumentError(f"channel parameter {name}={quote(value, 40)}: {exc}") from None
    return msg


def edit_to_proto(edit) -> pb.Edit:
    d = edit.to_dict() if hasattr(edit, "to_dict") else dict(edit)
    msg = pb.Edit(attribute=d["attribute"], mode=d["mode"])
    for name in ("direction", "change", "target"):
        if d.get(name) is not None:
            setattr(msg, name, int(d[name]))
    return msg


def edit_to_dict(msg: pb.Edit) -> dict[str, Any]:
    return {"attribute": msg.attribute, "mode": msg.mode,
            "direction": msg.direction if msg.HasField("direction") else None,
            "change": msg.change if msg.HasField("change") else None,
            "target": msg.target if msg.HasField("target") else None}


def generative_to_dict(msg: pb.GenerativeParams) -> dict[str, Any]:
    """The generative scheme's parameters as JSON (privacy "" reads as "none", flow as a bool)."""
    return {"privacy": msg.privacy or "none", "k": int(msg.k), "flow": not msg.no_flow, "edit": bool(msg.edit)}


def generative_to_proto(privacy: str, k: int, flow: bool, edit: bool = False) -> pb.GenerativeParams:
    """GenerativeParams for the parameters in force."""
    return pb.GenerativeParams(privacy=privacy, k=int(k), no_flow=not flow, edit=bool(edit))


def outcome_to_proto(outcome) -> pb.EditOutcome:
    return pb.EditOutcome(status=outcome.status, attribute=outcome.attribute,
                          degrees_before=[int(v) for v in outcome.degrees_before],
                          degrees_after=[int(v) for v in outcome.degrees_after],
                          expected_degree=int(outcome.expected_degree), confidence=float(outcome.confidence),
                          iterations=int(outcome.iterations))


def outcome_to_dict(msg: pb.EditOutcome) -> dict[str, Any]:
    return {"status": msg.status, "attribute": msg.attribute, "degrees_before": list(msg.degrees_before),
            "degrees_after": list(msg.degrees_after), "expected_degree": msg.expected_degree,
            "confidence": msg.confidence, "iterations": msg.iterations}


def side_info_to_proto(info: SideInfo) -> pb.SideInfo:
    d = info.to_dict()
    msg = pb.SideInfo(snr_db=d["snr_db"], no=d["no"], es=d["es"], csi=CSI_CODES[d["csi"]], k=d["k"],
                      model=d["model"] or "", layout_json=json.dumps(d["layout"]))
    if info.h is not None:
        msg.h.CopyFrom(tensor_to_proto(info.h.to(torch.complex64)))
    if info.pilots is not None:
        msg.pilots.CopyFrom(tensor_to_proto(info.pilots.to(torch.complex64)))
    if info.tx_gain is not None:
        msg.tx_gain.CopyFrom(tensor_to_proto(info.tx_gain.to(torch.float32)))
    return msg


MAX_LAYOUT_JSON = 2048            # bytes of a serialised FrameLayout (a flat object of a few numbers)
LAYOUT_BOUNDS = {"n_data": 1 << 15, "unit_slots": 1 << 16, "pilot_slots": 1 << 12, "n_subcarriers": 4096,
                 "cp_length": 4096}


def _layout_from_json(text: str) -> dict[str, Any]:
    """The side info's frame layout: a flat JSON object of known, bounded fields."""
    if len(text) > MAX_LAYOUT_JSON:
        raise InvalidArgumentError(f"side info: layout_json is {len(text)} bytes; the limit is {MAX_LAYOUT_JSON}")
    try:
        layout = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise InvalidArgumentError("side info: layout_json is not valid JSON") from None
    if not isinstance(layout, dict):
        raise InvalidArgumentError("side info: layout_json must be a JSON object (a frame layout)")
    for name, value in layout.items():
        if isinstance(value, (dict, list)):
            raise InvalidArgumentError(f"side info: layout field {quote(name, 40)} must be a number, bool or string")
        bound = LAYOUT_BOUNDS.get(name)
        if bound is not None and isinstance(value, int) and not isinstance(value, bool) and value > bound:
            raise InvalidArgumentError(f"side info: layout {name}={value} is above its limit {bound}")
    return layout


def _finite_tensor(t: torch.Tensor, name: str) -> torch.Tensor:
    if not bool(torch.isfinite(torch.view_as_real(t) if t.is_complex() else t).all()):
        raise InvalidArgumentError(f"side info: {name} holds NaN or infinite values")
    return t


def side_info_from_proto(msg: pb.SideInfo) -> SideInfo:
    """The receiver's side info, validated: known CSI mode, SNR in range, finite noise and channel values, a
    bounded frame layout. Every problem is an :class:`InvalidArgumentError` naming the field."""
    if msg.csi not in CSI_NAMES:
        raise InvalidArgumentError(f"side info: unknown CSI mode code {msg.csi}; use one of "
                                   f"{', '.join(f'{c} ({n})' for c, n in CSI_NAMES.items())}")
    check_snr_db(msg.snr_db)
    for name in ("no", "es"):
        v = getattr(msg, name)
        if not (math.isfinite(v) and 0 < v < 1e12):
            raise InvalidArgumentError(f"side info: {name} must be a finite number > 0, got {v:g}")
    if len(msg.model) > 32:
        raise InvalidArgumentError(f"side info: model {quote(msg.model, 32)} is not a channel model name")
    layout = _layout_from_json(msg.layout_json)
    d: dict[str, Any] = {"snr_db": msg.snr_db, "no": msg.no, "es": msg.es, "csi": CSI_NAMES[msg.csi], "k": msg.k,
                         "model": msg.model, "layout": layout, "h": None, "pilots": None}
    for name in ("h", "pilots"):
        if msg.HasField(name) and getattr(msg, name).dtype != pb.D_TYPE_UNSPECIFIED:
            t = _finite_tensor(tensor_from_proto(getattr(msg, name), f"side info {name}"), name)
            d[name] = torch.view_as_real(t) if t.is_complex() else t
    if msg.HasField("tx_gain") and msg.tx_gain.dtype != pb.D_TYPE_UNSPECIFIED:
        d["tx_gain"] = _finite_tensor(tensor_from_proto(msg.tx_gain, "side info tx_gain").float(), "tx_gain")
    try:
        return SideInfo.from_dict(d)
    except (TypeError, RuntimeError):
        raise InvalidArgumentError("side info: the tensors do not fit the frame layout") from None


def report_to_proto(report: Mapping[str, Any]) -> pb.ChannelReport:
    return pb.ChannelReport(model=str(report.get("model", "")), snr_db=float(report.get("snr_db", 0.0)),
                            seed=int(report.get("seed", 0)), channel_uses=int(report.get("channel_uses", 0)),
                            data_uses=int(report.get("data_uses", 0)), pilot_uses=int(report.get("pilot_uses", 0)),
                            measured_es_n0_db=float(report.get("measured_es_n0_db", 0.0)),
                            report_json=json.dumps(report, default=_json_default))


def report_to_dict(msg: pb.ChannelReport) -> dict[str, Any]:
    try:
        return json.loads(msg.report_json) if msg.report_json else {}
    except json.JSONDecodeError:
        return {}


def _json_default(v: Any) -> Any:
    if isinstance(v, torch.Tensor):
        return v.tolist()
    if hasattr(v, "item"):
        return v.item()
    return str(v)
