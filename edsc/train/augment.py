"""Augmentations (:class:`AugmentConfig`, :func:`augment`) that make models trained on clean renders robust to a
generator's outputs: slight shift / scale / rotation, colour jitter, Gaussian blur, down-up resampling (a
generator's output is a bit soft), JPEG-like 8×8 DCT quantisation with chroma subsampling, Gaussian noise.
Batched, on the input's device, deterministic given a ``torch.Generator``."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from shared.dataclass_config import checked_fields
from shared.errors import InvalidArgumentError

__all__ = ["AugmentConfig", "augment", "jpeg_like"]


@dataclass
class AugmentConfig:
    """Photometric and geometric augmentations that make models trained on clean renders robust to a
    generator's (slightly soft, slightly off) outputs. Each group is applied to a sample with its probability.

    Parameters
    ----------
    p_affine, max_shift, max_scale, max_rotate : shift (fraction of the image side), relative scale change and
        rotation (degrees), bilinear resampling with border padding
    p_color, brightness, contrast, saturation, gain : additive brightness, contrast and saturation factors
        ``1 ± x``, per-channel gain ``1 ± x`` (all in [0, 1] image units)
    p_blur, max_blur : Gaussian blur with σ ~ U(0.2, max_blur) pixels
    p_resample, min_resample : downscale by f ~ U(min_resample, 1) (antialiased) and back up (bilinear)
    p_jpeg, jpeg_quality : JPEG-like 8×8 DCT quantisation (IJG tables, quality ~ U(lo, hi)), 4:2:0 chroma
    p_noise, max_noise : additive Gaussian noise, σ ~ U(0, max_noise) in [0, 1] units
    """

    p_affine: float = 0.7
    max_shift: float = 0.03
    max_scale: float = 0.04
    max_rotate: float = 3.0
    p_color: float = 0.7
    brightness: float = 0.06
    contrast: float = 0.12
    saturation: float = 0.15
    gain: float = 0.05
    p_blur: float = 0.35
    max_blur: float = 1.0
    p_resample: float = 0.25
    min_resample: float = 0.55
    p_jpeg: float = 0.25
    jpeg_quality: tuple[int, int] = (40, 95)
    p_noise: float = 0.4
    max_noise: float = 0.03

    @classmethod
    def none(cls) -> "AugmentConfig":
        """No augmentation at all."""
        return cls(p_affine=0.0, p_color=0.0, p_blur=0.0, p_resample=0.0, p_jpeg=0.0, p_noise=0.0)

    @classmethod
    def generator_like(cls) -> "AugmentConfig":
        """A fixed-strength degradation used to *evaluate* robustness: always a little blur and resampling,
        mild noise, no geometry."""
        return cls(p_affine=0.0, p_color=0.0, p_blur=1.0, max_blur=0.9, p_resample=1.0, min_resample=0.6,
                   p_jpeg=0.0, p_noise=1.0, max_noise=0.02)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "AugmentConfig":
        d = checked_fields(cls, d)
        if "jpeg_quality" in d:
            d["jpeg_quality"] = tuple(d["jpeg_quality"])
        return cls(**d)


def _uniform(n: int, lo: float, hi: float, g: torch.Generator, device) -> Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=g, device=device)


def _affine_params(B: int, cfg: AugmentConfig, g: torch.Generator, dev) -> Tensor:
    """(B, 2, 3) affine matrices: scale, rotation, shift."""
    s = 1.0 + _uniform(B, -cfg.max_scale, cfg.max_scale, g, dev)
    a = _uniform(B, -cfg.max_rotate, cfg.max_rotate, g, dev) * (math.pi / 180.0)
    t = _uniform(2 * B, -2 * cfg.max_shift, 2 * cfg.max_shift, g, dev).view(B, 2)  # normalised coords span 2
    cos, sin = a.cos() / s, a.sin() / s
    return torch.stack([torch.stack([cos, -sin, t[:, 0]], 1), torch.stack([sin, cos, t[:, 1]], 1)], 1)


def _affine(x: Tensor, theta: Tensor) -> Tensor:
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _color_params(B: int, cfg: AugmentConfig, g: torch.Generator, dev) -> tuple[Tensor, ...]:
    b = _uniform(B, -cfg.brightness, cfg.brightness, g, dev).view(B, 1, 1, 1)
    c = (1.0 + _uniform(B, -cfg.contrast, cfg.contrast, g, dev)).view(B, 1, 1, 1)
    s = (1.0 + _uniform(B, -cfg.saturation, cfg.saturation, g, dev)).view(B, 1, 1, 1)
    k = (1.0 + _uniform(3 * B, -cfg.gain, cfg.gain, g, dev)).view(B, 3, 1, 1)
    return b, c, s, k


def _color(x: Tensor, params: tuple[Tensor, ...]) -> Tensor:
    b, c, s, k = params
    gray = 0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]
    x = gray + (x - gray) * s
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * c + mean + b
    return x * k


def _blur(x: Tensor, sigma: Tensor) -> Tensor:
    """Per-sample separable Gaussian blur, σ (B,) in pixels."""
    B, C, H, W = x.shape
    r = max(1, int(math.ceil(3.0 * float(sigma.max()))))
    pos = torch.arange(-r, r + 1, device=x.device, dtype=x.dtype)
    k = torch.exp(-pos.view(1, -1).square() / (2.0 * sigma.view(-1, 1).clamp(min=1e-3).square()))  # (B, K)
    k = k / k.sum(dim=1, keepdim=True)
    k = k.repeat_interleave(C, dim=0)  # (B*C, K)
    y = F.pad(x.reshape(1, B * C, H, W), (r, r, r, r), mode="replicate")
    y = F.conv2d(y, k.view(B * C, 1, 1, -1), groups=B * C)
    y = F.conv2d(y, k.view(B * C, 1, -1, 1), groups=B * C)
    return y.view(B, C, H, W)


def _resample(x: Tensor, factor: Tensor) -> Tensor:
    H, W = x.shape[-2:]
    out = []
    for i in range(x.shape[0]):
        h = max(8, int(round(H * float(factor[i]))))
        w = max(8, int(round(W * float(factor[i]))))
        small = F.interpolate(x[i:i + 1], size=(h, w), mode="bilinear", align_corners=False, antialias=True)
        out.append(F.interpolate(small, size=(H, W), mode="bilinear", align_corners=False))
    return torch.cat(out)


_JPEG_LUMA = torch.tensor([
    [16, 11, 10, 16, 24, 40, 51, 61], [12, 12, 14, 19, 26, 58, 60, 55], [14, 13, 16, 24, 40, 57, 69, 56],
    [14, 17, 22, 29, 51, 87, 80, 62], [18, 22, 37, 56, 68, 109, 103, 77], [24, 35, 55, 64, 81, 104, 113, 92],
    [49, 64, 78, 87, 103, 121, 120, 101], [72, 92, 95, 98, 112, 100, 103, 99]], dtype=torch.float32)
_JPEG_CHROMA = torch.full((8, 8), 99.0)
_JPEG_CHROMA[:4, :4] = torch.tensor([[17, 18, 24, 47], [18, 21, 26, 66], [24, 26, 56, 99], [47, 66, 99, 99]],
                                    dtype=torch.float32)


def _dct_matrix(device, dtype) -> Tensor:
    n = torch.arange(8, device=device, dtype=dtype)
    k = n.view(-1, 1)
    d = torch.cos(math.pi * (2 * n.view(1, -1) + 1) * k / 16.0) * math.sqrt(2.0 / 8.0)
    d[0] = d[0] / math.sqrt(2.0)
    return d  # (8, 8) orthonormal DCT-II


def jpeg_like(x: Tensor, quality: Tensor) -> Tensor:
    """JPEG-like compression of images in [0, 1] (B, 3, H, W): YCbCr, 4:2:0 chroma, 8×8 DCT, IJG tables scaled
    by ``quality`` (B,) in 1..100, rounding, inverse. H and W are padded to multiples of 16 (replicate)."""
    B, C, H, W = x.shape
    ph, pw = (-H) % 16, (-W) % 16
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    Hp, Wp = x.shape[-2:]
    v = x * 255.0
    r, gch, b = v[:, 0], v[:, 1], v[:, 2]
    y = 0.299 * r + 0.587 * gch + 0.114 * b
    cb = -0.168736 * r - 0.331264 * gch + 0.5 * b
    cr = 0.5 * r - 0.418688 * gch - 0.081312 * b
    q = quality.to(x.dtype).clamp(1, 100)
    scale = torch.where(q < 50, 5000.0 / q, 200.0 - 2.0 * q) / 100.0  # (B,)
    D = _dct_matrix(x.device, x.dtype)

    def code(plane: Tensor, table: Tensor) -> Tensor:
        bh, bw = plane.shape[-2] // 8, plane.shape[-1] // 8
        blk = plane.reshape(B, bh, 8, bw, 8).permute(0, 1, 3, 2, 4)  # (B, bh, bw, 8, 8)
        coef = D @ (blk - 128.0) @ D.T
        qt = (table.to(x.device, x.dtype).view(1, 1, 1, 8, 8) * scale.view(B, 1, 1, 1, 1)).floor().clamp(min=1)
        coef = torch.round(coef / qt) * qt
        out = D.T @ coef @ D + 128.0
        return out.permute(0, 1, 3, 2, 4).reshape(B, bh * 8, bw * 8)

    y = code(y, _JPEG_LUMA)
    sub = lambda p: F.avg_pool2d(p.unsqueeze(1), 2).squeeze(1)  # noqa: E731
    up = lambda p: F.interpolate(p.unsqueeze(1), scale_factor=2, mode="nearest").squeeze(1)  # noqa: E731
    cb = up(code(sub(cb) + 128.0, _JPEG_CHROMA) - 128.0)
    cr = up(code(sub(cr) + 128.0, _JPEG_CHROMA) - 128.0)
    out = torch.stack([y + 1.402 * cr, y - 0.344136 * cb - 0.714136 * cr, y + 1.772 * cb], dim=1) / 255.0
    return out[:, :, :H, :W]


def augment(images: Tensor, cfg: AugmentConfig, generator: torch.Generator) -> Tensor:
    """Augments a batch of images in [−1, 1] (B, 3, H, W) → same shape, in [−1, 1].

    Every random number is drawn from ``generator`` (on the images' device) in a fixed order, so the result is a
    function of the images and the generator's state.
    """
    if images.ndim != 4 or images.shape[1] != 3:
        raise InvalidArgumentError(f"images must have shape (B, 3, H, W), got {tuple(images.shape)}")
    B = images.shape[0]
    if B == 0:
        return images
    dev = images.device
    g = generator
    x = (images + 1.0) * 0.5  # [0, 1]
    # which groups apply to which sample (drawn all at once: the random stream does not depend on the content)
    use = torch.rand(6, B, generator=g, device=dev) < torch.tensor(
        [cfg.p_affine, cfg.p_color, cfg.p_blur, cfg.p_resample, cfg.p_jpeg, cfg.p_noise], device=dev).view(6, 1)
    sigma = _uniform(B, 0.2, max(0.2, cfg.max_blur), g, dev)
    factor = _uniform(B, min(1.0, cfg.min_resample), 1.0, g, dev)
    quality = _uniform(B, float(cfg.jpeg_quality[0]), float(cfg.jpeg_quality[1]), g, dev).round()
    noise_std = _uniform(B, 0.0, cfg.max_noise, g, dev)
    theta = _affine_params(B, cfg, g, dev)
    color = _color_params(B, cfg, g, dev)
    # every parameter is drawn even when unused, so the random stream's layout is fixed

    def where(mask: Tensor, a: Tensor, b: Tensor) -> Tensor:
        return torch.where(mask.view(B, 1, 1, 1), a, b)

    if use[0].any():
        idx = use[0].nonzero().flatten()
        x = x.clone()
        x[idx] = _affine(x[idx], theta[idx])
    if use[1].any():
        x = where(use[1], _color(x, color), x)
    if use[2].any():
        idx = use[2].nonzero().flatten()
        x = x.clone()
        x[idx] = _blur(x[idx], sigma[idx])
    if use[3].any():
        idx = use[3].nonzero().flatten()
        x = x.clone()
        x[idx] = _resample(x[idx], factor[idx])
    if use[4].any():
        idx = use[4].nonzero().flatten()
        x = x.clone()
        x[idx] = jpeg_like(x[idx].clamp(0.0, 1.0), quality[idx])
    noise = torch.randn(x.shape, generator=g, device=dev, dtype=x.dtype)
    x = x + noise * (noise_std * use[5].to(x.dtype)).view(B, 1, 1, 1)
    return (x.clamp(0.0, 1.0) * 2.0 - 1.0)
