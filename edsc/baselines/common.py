"""The interface every classic baseline link implements, and small helpers they share.

A baseline *image link* takes a batch of images at the sender and returns what the receiver reconstructs after
the project's channel (:mod:`channel_emulator`): JPEG + 5G LDPC + 4-QAM (:mod:`edsc.baselines.jpeg_ldpc`) and
DeepJSCC (:mod:`edsc.baselines.deepjscc`). Editing and evaluation (``edsc/eval``) are built on top of this
interface and do not need to know which link they drive.

Conventions (the same as the rest of the project, see ``docs/CHANNEL.md``):

* images are float tensors (B, 3, H, W) in [-1, 1];
* SNR is Es/N0 in dB with unit average energy per complex symbol;
* the **CBR** is counted in *real* channel values per source real value: ``2 * complex channel uses / (3 H W)``
  (Editable-DeepSC: 512 / (3 * 128 * 128) = 0.0104). Pilots and padding the channel adds are counted, so
  ``LinkResult.cbr`` is what the link really used; ``info["cbr_data"]`` is the figure without them.

Example::

    from edsc.baselines import JpegLdpcLink
    res = JpegLdpcLink(bpp=0.7).transmit(images, snr_db=6.0, channel={"model": "rayleigh"}, seed=0)
    res.images, res.cbr, res.info["decode_ok"]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor

from channel_emulator.config import ChannelConfig
from shared.channel.errors import ChannelParameterError
from shared.errors import InvalidArgumentError

__all__ = [
    "LinkResult",
    "ImageLink",
    "resolve_channel",
    "check_images",
    "psnr",
    "evaluate_link",
]


@dataclass
class LinkResult:
    """What a baseline link delivers.

    Attributes
    ----------
    images : (B, 3, H, W) float32 in [-1, 1]
        The receiver's reconstruction, on the device of the input images.
    cbr : float
        Channel bandwidth ratio in real channel values per source real value,
        ``2 * channel_uses / (3 H W)``, pilots included.
    info : dict
        Link-specific details; per-image entries are lists of length B (e.g. ``block_errors``, ``decode_ok``).
    """

    images: Tensor
    cbr: float
    info: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class ImageLink(Protocol):
    """A transmitter + channel + receiver chain for whole images.

    Attributes
    ----------
    name : str
        Short identifier, e.g. ``"jpeg+ldpc"`` or ``"deepjscc"``.
    """

    name: str

    def transmit(self, images: Tensor, snr_db: float, channel: ChannelConfig | dict | None = None,
                 seed: int = 0) -> LinkResult:
        """Send a batch of images and reconstruct it at the receiver.

        Input
        -----
        images : (B, 3, H, W) float in [-1, 1]
        snr_db : float
            Es/N0 in dB; overrides any ``snr_db`` inside ``channel``.
        channel : ChannelConfig, mapping of its fields, or None (AWGN, perfect CSI)
        seed : int
            Channel seed: the output is a function of (images, parameters, seed).

        Output
        ------
        LinkResult
        """
        ...


def resolve_channel(channel: ChannelConfig | Mapping[str, Any] | None, snr_db: float) -> ChannelConfig:
    """A validated :class:`ChannelConfig` at ``snr_db`` from a config, a mapping of its fields, or ``None``.

    ``snr_db`` always wins over an ``snr_db`` in ``channel``. Raises
    :class:`~shared.channel.errors.ChannelParameterError` on bad parameters.
    """
    if isinstance(snr_db, bool) or not isinstance(snr_db, (int, float)) or not math.isfinite(float(snr_db)):
        raise ChannelParameterError(f"snr_db must be a finite number, got {snr_db!r}")
    if channel is None:
        return ChannelConfig(model="awgn", snr_db=float(snr_db))
    if isinstance(channel, ChannelConfig):
        return channel.replace(snr_db=float(snr_db))
    if isinstance(channel, Mapping):
        return ChannelConfig.from_dict({**dict(channel), "snr_db": float(snr_db)})
    raise ChannelParameterError(f"channel must be a ChannelConfig, a mapping or None, got {type(channel).__name__}")


def check_images(images: Tensor) -> Tensor:
    """Checks a (B, 3, H, W) real image batch and returns it as float32 (values are clamped to [-1, 1])."""
    if not isinstance(images, Tensor):
        raise InvalidArgumentError(f"images must be a torch.Tensor, got {type(images).__name__}")
    if images.ndim != 4 or images.shape[1] != 3 or images.shape[0] == 0:
        raise InvalidArgumentError(f"images must have shape (B, 3, H, W) with B >= 1, got {tuple(images.shape)}")
    if images.is_complex() or not images.is_floating_point():
        raise InvalidArgumentError(f"images must be real floating-point values in [-1, 1], got {images.dtype}")
    if not bool(torch.isfinite(images).all()):
        raise InvalidArgumentError("images contain NaN or Inf values")
    return images.to(torch.float32).clamp(-1.0, 1.0)


def psnr(a: Tensor, b: Tensor) -> Tensor:
    """Per-image PSNR in dB of two (B, 3, H, W) batches in [-1, 1], on the [0, 1] scale (peak 1).

    Output: (B,) float32; identical images give ``inf``.
    """
    mse = ((a.float() - b.float()) * 0.5).square().flatten(1).mean(1)  # (B,) on the [0, 1] scale
    return 10.0 * torch.log10(1.0 / mse)


def evaluate_link(link: ImageLink, images: Tensor, snrs_db: Sequence[float],
                  channel: ChannelConfig | Mapping[str, Any] | None = None, seed: int = 0, batch_size: int = 16,
                  lpips_net: str | None = "alex") -> list[dict[str, Any]]:
    """PSNR and LPIPS of a link against the sent images, per SNR.

    Parameters
    ----------
    link : ImageLink
    images : (N, 3, H, W) in [-1, 1]
    snrs_db : SNR points (Es/N0, dB)
    channel : channel parameters besides the SNR (default AWGN)
    seed : channel seed; batch ``j`` uses ``seed + j`` (the same at every SNR: common random numbers)
    batch_size : images per ``transmit`` call
    lpips_net : ``"alex"`` (the paper's metric), ``"vgg"``, or None to skip LPIPS (official weights, offline)

    Output
    ------
    One dict per SNR: ``snr_db``, ``psnr`` (mean dB), ``lpips`` (mean, or None), ``cbr``, ``n``, ``psnr_all``,
    ``lpips_all`` (per image) and link-specific summaries (``decode_ok_rate``, ``fallback_rate``,
    ``block_error_rate`` when the link reports them).
    """
    images = check_images(images)
    metric = None
    if lpips_net is not None:
        from shared.lpips import get_lpips

        metric = get_lpips(lpips_net, images.device)
    rows = []
    for snr in snrs_db:
        ps, lp, info_ok, info_fb, blk, blk_n, cbr = [], [], [], [], 0, 0, None
        for j, i in enumerate(range(0, images.shape[0], batch_size)):
            x = images[i:i + batch_size]
            res = link.transmit(x, float(snr), channel=channel, seed=seed + j)
            cbr = res.cbr
            ps.append(psnr(res.images, x).cpu())
            if metric is not None:
                with torch.no_grad():
                    lp.append(metric(res.images, x).cpu())
            info_ok += list(res.info.get("decode_ok", []))
            info_fb += list(res.info.get("fallback_used", []))
            if "block_errors" in res.info:
                blk += int(sum(res.info["block_errors"]))
                blk_n += int(res.info["blocks_per_image"]) * x.shape[0]
        p = torch.cat(ps)
        row: dict[str, Any] = {"snr_db": float(snr), "psnr": float(p[torch.isfinite(p)].mean()) if bool(
            torch.isfinite(p).any()) else float("inf"), "lpips": None, "cbr": cbr, "n": int(p.numel()),
                               "psnr_all": [round(float(v), 4) for v in p]}
        if lp:
            lv = torch.cat(lp)
            row["lpips"] = float(lv.mean())
            row["lpips_all"] = [round(float(v), 5) for v in lv]
        if info_ok:
            row["decode_ok_rate"] = sum(bool(v) for v in info_ok) / len(info_ok)
        if info_fb:
            row["fallback_rate"] = sum(bool(v) for v in info_fb) / len(info_fb)
        if blk_n:
            row["block_error_rate"] = blk / blk_n
        rows.append(row)
    return rows
