"""Shared training utilities of the built-in bundle's stages (``edsc/train/<stage>.py``).

What every stage gets from here:

* **Seeds.** :func:`stable_seed` hashes a namespace path (``"predictor/jecc", 0, "data", 17``) into a 63-bit
  seed with SHA-256, so streams never depend on Python's salted ``hash`` and two namespaces never share numbers.
  Training data use the namespace ``"train"``, held-out data ``"heldout/<purpose>"``: metrics are never computed
  on training faces.
* **Run directories.** :class:`RunDir`: ``config.json`` (checked on resume: resuming a run with another config is
  an error), checkpoints ``ckpt-<step>.pt`` written atomically (temporary file + ``os.replace``; the newest
  ``keep`` are kept), ``log.csv`` (one row per logged step; on resume rows after the checkpoint are dropped so the
  log never holds two histories) and ``metrics.json``.
* **Stateless schedules and data.** The learning rate (:func:`lr_at`), the batch of step ``s``
  (:class:`FacePool`) and its augmentation are pure functions of ``(seed, s)``. A checkpoint therefore only needs
  the model, the optimizer and the step, and a resumed run is bit-identical to an uninterrupted one.
* **Faces.** :class:`FaceStream` renders SynthFace faces in deterministic chunks (cached as uint8, which is what
  the predictors' own quantisation sees anyway); :class:`FacePool` draws training batches from a sliding window
  of recent chunks, so one render serves ``batch_size / fresh_per_step`` training samples on average (rendering
  is the slow part on a CPU); :func:`heldout_faces` renders a fixed evaluation set.
* **Augmentations** (:class:`AugmentConfig`, :func:`augment`): slight shift / scale / rotation, colour jitter,
  Gaussian blur, down-up resampling (a generator's output is a bit soft), JPEG-like 8×8 DCT quantisation with
  chroma subsampling, Gaussian noise. Batched, on the input's device, deterministic given a ``torch.Generator``.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import math
import os
import random
import re
import tempfile
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from shared.dataclass_config import checked_fields
from shared.errors import InvalidArgumentError

__all__ = [
    "stable_seed",
    "make_generator",
    "seed_everything",
    "config_to_dict",
    "write_json",
    "read_json",
    "RunDir",
    "CSVLog",
    "lr_at",
    "set_lr",
    "AugmentConfig",
    "augment",
    "jpeg_like",
    "FaceStream",
    "FacePool",
    "heldout_faces",
    "images_to_uint8",
    "uint8_to_images",
]


# ----------------------------------------------------------------------------------------------------------------
# Seeds
# ----------------------------------------------------------------------------------------------------------------

def stable_seed(*parts: Any) -> int:
    """A 63-bit seed from a namespace path, stable across processes and platforms.

    >>> stable_seed("train", 0, 5) == stable_seed("train", 0, 5)
    True
    """
    text = "/".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big") >> 1


def make_generator(*parts: Any, device: torch.device | str = "cpu") -> torch.Generator:
    """A ``torch.Generator`` seeded with :func:`stable_seed` of ``parts``."""
    return torch.Generator(device=device).manual_seed(stable_seed(*parts))


def seed_everything(seed: int) -> None:
    """Seeds Python's ``random``, NumPy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)


# ----------------------------------------------------------------------------------------------------------------
# Files
# ----------------------------------------------------------------------------------------------------------------

def config_to_dict(config: Any) -> dict[str, Any]:
    """A dataclass config (nested dataclasses included) → JSON-ready dict."""
    if dataclasses.is_dataclass(config):
        return json.loads(json.dumps(dataclasses.asdict(config), default=str))
    if isinstance(config, Mapping):
        return json.loads(json.dumps(dict(config), default=str))
    raise InvalidArgumentError(f"a config must be a dataclass or a mapping, got {type(config).__name__}")


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_torch(obj: Any, path: str | os.PathLike[str]) -> Path:
    """``torch.save(obj)`` to ``path``, atomically (a reader never sees a half-written file)."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    path = Path(path)
    _atomic_write_bytes(path, buf.getvalue())
    return path


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Writes ``obj`` as indented JSON, atomically."""
    path = Path(path)
    _atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n").encode("utf-8"))
    return path


def read_json(path: str | os.PathLike[str]) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


class CSVLog:
    """Append-only CSV loss log with a fixed header.

    Parameters
    ----------
    path : the CSV file
    fields : column names (the first is conventionally ``step``)
    resume_step : when resuming from a checkpoint at this step, rows with ``step > resume_step`` are dropped
        (they belong to the interrupted part of the run); ``None`` starts a fresh file.
    """

    def __init__(self, path: str | os.PathLike[str], fields: Sequence[str], resume_step: int | None = None):
        self.path = Path(path)
        self.fields = list(fields)
        keep: list[dict[str, str]] = []
        if resume_step is not None and self.path.exists():
            with open(self.path, newline="", encoding="utf-8") as fh:
                reader = csv.DictReader(fh)
                if reader.fieldnames == self.fields:
                    keep = [row for row in reader if int(float(row.get("step", 0))) <= resume_step]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=self.fields)
            writer.writeheader()
            writer.writerows(keep)

    def log(self, **row: Any) -> None:
        unknown = sorted(set(row) - set(self.fields))
        if unknown:
            raise InvalidArgumentError(f"unknown log columns {unknown}; expected {self.fields}")
        out = {k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()}
        with open(self.path, "a", newline="", encoding="utf-8") as fh:
            csv.DictWriter(fh, fieldnames=self.fields).writerow(out)

    def rows(self) -> list[dict[str, str]]:
        with open(self.path, newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))


_CKPT = re.compile(r"^ckpt-(\d{8})\.pt$")


class RunDir:
    """A training run's directory: config, checkpoints, loss log, metrics.

    Parameters
    ----------
    path : the directory (created)
    config : the stage's config (dataclass or dict); saved as ``config.json``
    resume : keep and resume from existing checkpoints. With ``resume=False`` old checkpoints, log and metrics
        are removed first. Resuming a directory whose ``config.json`` differs raises
        :class:`~shared.errors.InvalidArgumentError` naming the differing keys.
    keep : how many checkpoints to keep (newest first)
    """

    def __init__(self, path: str | os.PathLike[str], config: Any, resume: bool = True, keep: int = 2):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.keep = max(1, int(keep))
        self.config = config_to_dict(config)
        cfg_path = self.path / "config.json"
        if not resume:
            for p in self.checkpoints():
                p.unlink()
            for name in ("log.csv", "metrics.json"):
                if (self.path / name).exists():
                    (self.path / name).unlink()
        elif cfg_path.exists() and self.checkpoints():
            old = read_json(cfg_path)
            if old != self.config:
                diff = sorted(k for k in set(old) | set(self.config) if old.get(k) != self.config.get(k))
                raise InvalidArgumentError(
                    f"run directory {self.path} was started with another config (differs in {', '.join(diff)}); "
                    "use another directory or resume=False")
        write_json(cfg_path, self.config)

    # -- checkpoints --------------------------------------------------------------------------------------------
    def checkpoints(self) -> list[Path]:
        """Checkpoint files, oldest first."""
        return sorted(p for p in self.path.iterdir() if _CKPT.match(p.name))

    def latest(self) -> Path | None:
        ck = self.checkpoints()
        return ck[-1] if ck else None

    def save(self, step: int, state: Mapping[str, Any]) -> Path:
        """Writes ``{"step": step, **state}`` to ``ckpt-<step>.pt`` atomically and prunes old checkpoints."""
        import io

        buf = io.BytesIO()
        torch.save({"step": int(step), **state}, buf)
        path = self.path / f"ckpt-{int(step):08d}.pt"
        _atomic_write_bytes(path, buf.getvalue())
        for old in self.checkpoints()[:-self.keep]:
            old.unlink()
        return path

    def load_latest(self, map_location: str | torch.device = "cpu") -> dict[str, Any] | None:
        """The newest checkpoint's content, or ``None`` when there is none."""
        path = self.latest()
        if path is None:
            return None
        return torch.load(path, map_location=map_location, weights_only=True)

    # -- logs ---------------------------------------------------------------------------------------------------
    def log(self, fields: Sequence[str], resume_step: int | None) -> CSVLog:
        return CSVLog(self.path / "log.csv", fields, resume_step)

    def write_metrics(self, metrics: Mapping[str, Any]) -> Path:
        return write_json(self.path / "metrics.json", dict(metrics))


def lr_at(step: int, base_lr: float, total_steps: int, warmup: int = 0, final_frac: float = 0.02) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay to ``final_frac · base_lr`` at ``total_steps``."""
    if warmup > 0 and step < warmup:
        return base_lr * (step + 1) / warmup
    span = max(1, total_steps - warmup)
    t = min(1.0, max(0.0, (step - warmup) / span))
    return base_lr * (final_frac + (1.0 - final_frac) * 0.5 * (1.0 + math.cos(math.pi * t)))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


# ----------------------------------------------------------------------------------------------------------------
# Augmentations
# ----------------------------------------------------------------------------------------------------------------

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


# ----------------------------------------------------------------------------------------------------------------
# Faces
# ----------------------------------------------------------------------------------------------------------------

def images_to_uint8(images: Tensor) -> Tensor:
    """[−1, 1] float → uint8 ``round((x + 1)·127.5)`` (what a PNG of the image holds)."""
    return torch.floor((images.clamp(-1.0, 1.0) + 1.0) * 127.5 + 0.5).clamp(0, 255).to(torch.uint8)


def uint8_to_images(q: Tensor) -> Tensor:
    """uint8 → [−1, 1] float32 (inverse of :func:`images_to_uint8` on the uint8 grid)."""
    return q.to(torch.float32) / 127.5 - 1.0


def _sample_degrees_mixed(n: int, g: torch.Generator, frac_prob: float) -> Tensor:
    from edsc.world.synthface import ATTRIBUTES, NUM_DEGREES, MAX_DEGREE

    m = len(ATTRIBUTES)
    ints = torch.randint(0, NUM_DEGREES, (n, m), generator=g).float()
    fracs = torch.rand(n, m, generator=g) * MAX_DEGREE
    use = torch.rand(n, m, generator=g) < frac_prob
    return torch.where(use, fracs, ints)


class FaceStream:
    """An endless, deterministic sequence of SynthFace faces, rendered in chunks on demand.

    Face ``k`` lives in chunk ``k // chunk``; chunk ``c`` draws its identities and degrees from a generator
    seeded with ``stable_seed(namespace, seed, c)``, so any chunk can be re-rendered identically at any time
    (after a resume, in another process). Rendered chunks are cached as uint8 (LRU, ``cache_chunks`` of them).

    Parameters
    ----------
    namespace : e.g. ``"train"``; held-out sets use another namespace, so they never share a face with training
    seed : data seed
    chunk : faces per chunk
    size : image side
    frac_prob : probability that an attribute's degree is fractional (uniform in [0, 5]) instead of an integer
    cache_chunks : cached chunks
    """

    def __init__(self, namespace: str, seed: int, chunk: int = 64, size: int = 128, frac_prob: float = 0.0,
                 cache_chunks: int = 64):
        if chunk < 1:
            raise InvalidArgumentError(f"chunk must be >= 1, got {chunk}")
        if not 0.0 <= frac_prob <= 1.0:
            raise InvalidArgumentError(f"frac_prob must lie in [0, 1], got {frac_prob}")
        self.namespace, self.seed, self.chunk, self.size = str(namespace), int(seed), int(chunk), int(size)
        self.frac_prob = float(frac_prob)
        self.cache_chunks = max(1, int(cache_chunks))
        self._cache: OrderedDict[int, tuple[Tensor, Tensor, Tensor]] = OrderedDict()
        self.rendered = 0  # faces rendered so far (cache misses × chunk)

    def params(self, c: int) -> tuple[Tensor, Tensor]:
        """(identity (chunk, D), degrees (chunk, 5)) of chunk ``c`` without rendering."""
        from edsc.world.synthface import sample_identity

        g = make_generator(self.namespace, self.seed, c)
        ident = sample_identity(self.chunk, g)
        deg = _sample_degrees_mixed(self.chunk, g, self.frac_prob)
        return ident, deg

    def get_chunk(self, c: int) -> tuple[Tensor, Tensor, Tensor]:
        """(images uint8 (chunk, 3, S, S), identity (chunk, D), degrees (chunk, 5)) of chunk ``c``."""
        from edsc.world.synthface import render

        if c in self._cache:
            self._cache.move_to_end(c)
            return self._cache[c]
        ident, deg = self.params(c)
        imgs = images_to_uint8(render(ident, deg, self.size))
        self.rendered += self.chunk
        self._cache[c] = (imgs, ident, deg)
        while len(self._cache) > self.cache_chunks:
            self._cache.popitem(last=False)
        return self._cache[c]

    def faces(self, indices: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Faces by global index: (images [−1, 1] float (n, 3, S, S), identity (n, D), degrees (n, 5))."""
        indices = indices.long().flatten()
        chunks = sorted(set((indices // self.chunk).tolist()))
        data = {c: self.get_chunk(c) for c in chunks}
        imgs, ids, degs = [], [], []
        for k in indices.tolist():
            c, j = divmod(k, self.chunk)
            im, i, d = data[c]
            imgs.append(im[j])
            ids.append(i[j])
            degs.append(d[j])
        return uint8_to_images(torch.stack(imgs)), torch.stack(ids), torch.stack(degs)


class FacePool:
    """Training batches from a sliding window over a :class:`FaceStream`.

    At step ``s`` the newest chunk is ``c = s·fresh_per_step // chunk`` and the window holds chunks
    ``c − window + 1 .. c``; the batch is ``batch_size`` faces drawn uniformly (with a generator seeded by
    ``(namespace, seed, "batch", s)``) from the window. On average ``fresh_per_step`` faces are rendered per
    step and each face is seen ``batch_size / fresh_per_step`` times. The batch of step ``s`` depends on nothing
    but ``(seed, s)``.
    """

    def __init__(self, stream: FaceStream, batch_size: int, fresh_per_step: int, window: int = 16):
        if fresh_per_step < 1 or batch_size < 1 or window < 1:
            raise InvalidArgumentError("batch_size, fresh_per_step and window must be >= 1")
        self.stream = stream
        self.batch_size = int(batch_size)
        self.fresh = int(fresh_per_step)
        self.window = int(window)
        stream.cache_chunks = max(stream.cache_chunks, self.window + 1)

    def batch(self, step: int) -> tuple[Tensor, Tensor, Tensor]:
        s = self.stream
        newest = (int(step) * self.fresh) // s.chunk
        first = max(0, newest - self.window + 1)
        n_faces = (newest - first + 1) * s.chunk
        g = make_generator(s.namespace, s.seed, "batch", int(step))
        idx = torch.randint(0, n_faces, (self.batch_size,), generator=g) + first * s.chunk
        return s.faces(idx)


def heldout_faces(purpose: str, seed: int, n: int, size: int = 128, frac_prob: float = 0.0,
                  chunk: int = 64) -> tuple[Tensor, Tensor, Tensor]:
    """A fixed held-out set: (images [−1, 1] (n, 3, S, S), identity (n, D), degrees (n, 5)).

    Drawn from the namespace ``"heldout/<purpose>"``, disjoint by construction from every ``"train"`` stream.
    """
    stream = FaceStream(f"heldout/{purpose}", seed, chunk=chunk, size=size, frac_prob=frac_prob, cache_chunks=1)
    return stream.faces(torch.arange(int(n)))


def out_of_time(t0: float, limit: float | None, done: int, total: int) -> bool:
    """True when a stage called with a wall-clock ``limit`` (seconds since ``t0``) must stop before ``total``."""
    return limit is not None and time.perf_counter() - t0 > limit and done < total


def stopped_early(model: torch.nn.Module, bar: Any, done: int, total: int, start: int, t0: float) -> dict[str, Any]:
    """Close the progress bar, put ``model`` in eval mode and return the metrics of a time-limited, resumable stop."""
    bar.close()
    model.eval()
    return {"complete": False, "step": done, "steps": total, "resumed_from": start,
            "seconds": round(time.perf_counter() - t0, 1)}
