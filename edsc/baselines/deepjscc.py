r"""DeepJSCC (Bourtsoulatze, Kurka, Gündüz 2019) for 128 x 128 RGB faces, over the project's channel.

The model maps an image straight to channel values and back:

* **encoder**: 5 convolutions (``kernel`` x ``kernel``; the first ``num_down`` with stride 2), each but the last
  followed by GDN (Ballé's generalised divisive normalisation, optional: ``norm="gdn" | "none"``) and PReLU; the
  last one outputs ``c`` feature maps of ``s x s`` (``s = image_size / 2**num_down``), flattened to ``k = c s^2``
  real values;
* **power normalisation** per image to an average energy ``P`` per complex symbol,
  :math:`x \sqrt{P k / 2} / \lVert x\rVert` (DeepJSCC's constraint, the same as the emulator's ``"equal"`` mode);
* **channel**: :func:`channel_emulator.link.apply_channel` (pairing of ``k`` reals into ``k/2`` complex uses, first
  half real parts, second half imaginary parts, :mod:`shared.channel.pairing`; AWGN / Rayleigh / Rician / TDL,
  CSI modes, pilots) and the receiver's :func:`receiver.equalization.recover` (MMSE by default), run together by
  :func:`edsc.link.estimate`. That code is differentiable with respect to the message, so training and testing
  share the channel;
* **decoder**: 5 transposed convolutions mirroring the encoder (inverse GDN + PReLU), sigmoid output mapped to
  [-1, 1].

At 128 x 128 with CBR 1/12 (the paper's DeepSC/DeepJSCC baseline, 0.0833 real values per source value): ``k`` =
49152 / 12 = 4096 real values = 2048 complex channel uses; with ``num_down=3`` the latent is 16 x 16 x 16.

Deviations from the paper's baseline, stated: Bourtsoulatze et al. train one model per SNR (and Editable-DeepSC
compares with such per-SNR models); the shipped model ``bundles/baselines/deepjscc-128`` is **one model for all
SNRs**, trained with an SNR drawn uniformly from [-6, 18] dB per image, and it does not know the SNR (no
SNR-adaptive layers), so it trades some quality at each SNR for robustness across them. The decoder sees the
receiver's MMSE estimate (``recover(..., "mmse")``), so with fading and perfect or estimated CSI the channel is
equalised before the decoder (Bourtsoulatze's slow-fading model learns without CSI instead).

Files: ``save_deepjscc(model, dir)`` writes ``model.safetensors`` and ``config.json`` (architecture, config, the
weights' sha256, training notes); :func:`load_deepjscc` checks the sha256 and loads strictly, raising
:class:`~shared.errors.BundleError` naming the file when something is missing or corrupt.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from channel_emulator.config import ChannelConfig
from edsc.baselines.common import LinkResult, check_images, resolve_channel
from shared.config import REPO_ROOT
from shared.dataclass_config import checked_fields
from shared.errors import BundleError, InvalidArgumentError

__all__ = [
    "ARCH",
    "DEFAULT_DIR",
    "DeepJSCCConfig",
    "GDN",
    "DeepJSCC",
    "DeepJSCCLink",
    "channel_pass",
    "save_deepjscc",
    "load_deepjscc",
]

ARCH = "deepjscc-bourtsoulatze"
#: Where the shipped weights live.
DEFAULT_DIR = REPO_ROOT / "bundles" / "baselines" / "deepjscc-128"
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"


@dataclass
class DeepJSCCConfig:
    """Architecture of :class:`DeepJSCC`.

    Parameters
    ----------
    image_size : int
        Side of the square RGB input.
    cbr : float
        Real channel values per source real value; ``k = cbr * 3 * image_size**2`` must be an integer multiple of
        ``(image_size / 2**num_down)**2`` (and even).
    widths : list[int]
        Feature maps of the 4 hidden encoder layers (the decoder mirrors them).
    num_down : int
        Stride-2 layers (the first ``num_down`` of the encoder, the last ``num_down`` of the decoder).
    kernel : int
        Odd kernel size of every layer.
    norm : "gdn" | "none"
        GDN / inverse GDN after each hidden layer, or nothing.
    power : float
        Average energy P per complex symbol after normalisation.
    """

    image_size: int = 128
    cbr: float = 1.0 / 12.0
    widths: list[int] = field(default_factory=lambda: [32, 64, 64, 64])
    num_down: int = 3
    kernel: int = 5
    norm: str = "gdn"
    power: float = 1.0

    def __post_init__(self) -> None:
        self.widths = [int(w) for w in self.widths]
        if len(self.widths) != 4 or min(self.widths) < 1:
            raise InvalidArgumentError(f"widths must hold 4 positive integers, got {self.widths}")
        if self.norm not in ("gdn", "none"):
            raise InvalidArgumentError(f"norm must be 'gdn' or 'none', got {self.norm!r}")
        if self.kernel < 1 or self.kernel % 2 == 0:
            raise InvalidArgumentError(f"kernel must be a positive odd integer, got {self.kernel}")
        if not 1 <= self.num_down <= 5:
            raise InvalidArgumentError(f"num_down must lie in 1..5, got {self.num_down}")
        if self.image_size < 8 or self.image_size % (2 ** self.num_down):
            raise InvalidArgumentError(f"image_size {self.image_size} must be a multiple of 2**num_down "
                                       f"= {2 ** self.num_down}")
        if not (math.isfinite(self.power) and self.power > 0):
            raise InvalidArgumentError(f"power must be > 0, got {self.power}")
        k = self.cbr * 3 * self.image_size ** 2
        s2 = self.latent_side ** 2
        if not (self.cbr > 0 and abs(k - round(k)) < 1e-6 and round(k) % s2 == 0 and round(k) % 2 == 0):
            raise InvalidArgumentError(
                f"cbr {self.cbr:g} gives {k:g} real values, not an even multiple of the {self.latent_side}x"
                f"{self.latent_side} latent grid")

    @property
    def latent_side(self) -> int:
        """Side ``s`` of the latent feature maps."""
        return self.image_size // (2 ** self.num_down)

    @property
    def k(self) -> int:
        """Real channel values per image."""
        return int(round(self.cbr * 3 * self.image_size ** 2))

    @property
    def latent_channels(self) -> int:
        """Feature maps ``c`` of the latent (``k / s^2``)."""
        return self.k // self.latent_side ** 2

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "DeepJSCCConfig":
        return cls(**checked_fields(cls, d))


class GDN(nn.Module):
    r"""Generalised divisive normalisation (Ballé et al. 2016) and its inverse, per pixel across channels.

    :math:`y_i = x_i / \sqrt{\beta_i + \sum_j \gamma_{ij} x_j^2}` (inverse: multiply). ``beta`` and ``gamma``
    are kept non-negative by squaring their parameters (``beta`` is bounded below by ``beta_min``).

    Parameters
    ----------
    channels : int
    inverse : bool
    beta_min : float
    gamma_init : float
        Initial diagonal of ``gamma``.

    Input / Output: (B, C, H, W) -> (B, C, H, W)
    """

    def __init__(self, channels: int, inverse: bool = False, beta_min: float = 1e-6, gamma_init: float = 0.1):
        super().__init__()
        self.inverse = bool(inverse)
        self.beta_min = float(beta_min)
        self.beta_p = nn.Parameter(torch.ones(channels))
        self.gamma_p = nn.Parameter(torch.eye(channels) * math.sqrt(gamma_init))

    def forward(self, x: Tensor) -> Tensor:
        c = x.shape[1]
        beta = self.beta_p.square() + self.beta_min  # (C,)
        gamma = self.gamma_p.square().view(c, c, 1, 1)  # (C, C, 1, 1)
        norm = torch.sqrt(F.conv2d(x.square(), gamma, beta))  # (B, C, H, W)
        return x * norm if self.inverse else x / norm


def _block(conv: nn.Module, channels: int, norm: str, inverse: bool) -> nn.Sequential:
    layers: list[nn.Module] = [conv]
    if norm == "gdn":
        layers.append(GDN(channels, inverse=inverse))
    layers.append(nn.PReLU(channels))
    return nn.Sequential(*layers)


class DeepJSCC(nn.Module):
    """Bourtsoulatze-style DeepJSCC autoencoder (see the module docstring).

    Parameters
    ----------
    config : DeepJSCCConfig or mapping of its fields
    """

    def __init__(self, config: DeepJSCCConfig | Mapping[str, Any] | None = None):
        super().__init__()
        cfg = config if isinstance(config, DeepJSCCConfig) else DeepJSCCConfig.from_dict(config or {})
        self.cfg = cfg
        k, p = cfg.kernel, cfg.kernel // 2
        w = cfg.widths
        chans = [3] + w  # encoder inputs of the 4 hidden layers
        strides = [2 if i < cfg.num_down else 1 for i in range(5)]  # (5,) encoder strides
        enc: list[nn.Module] = []
        for i in range(4):
            enc.append(_block(nn.Conv2d(chans[i], w[i], k, strides[i], p), w[i], cfg.norm, inverse=False))
        enc.append(nn.Conv2d(w[3], cfg.latent_channels, k, strides[4], p))
        self.encoder = nn.Sequential(*enc)
        dec_in = [cfg.latent_channels, w[3], w[2], w[1], w[0]]
        dec_out = [w[3], w[2], w[1], w[0], 3]
        dec_strides = strides[::-1]
        dec: list[nn.Module] = []
        for i in range(5):
            s = dec_strides[i]
            conv = nn.ConvTranspose2d(dec_in[i], dec_out[i], k, s, p, output_padding=s - 1)
            dec.append(conv if i == 4 else _block(conv, dec_out[i], cfg.norm, inverse=True))
        self.decoder = nn.Sequential(*dec)

    @property
    def k(self) -> int:
        """Real channel values per image."""
        return self.cfg.k

    def config(self) -> dict[str, Any]:
        return self.cfg.to_dict()

    def normalize(self, z: Tensor) -> Tensor:
        """Per-image power normalisation to ``P`` per complex symbol: (B, k) -> (B, k)."""
        norm = torch.linalg.vector_norm(z, dim=-1, keepdim=True).clamp_min(1e-12)  # (B, 1)
        return z * (math.sqrt(self.cfg.power * z.shape[-1] / 2.0) / norm)

    def encode(self, images: Tensor) -> Tensor:
        """Images (B, 3, H, W) in [-1, 1] -> power-normalised channel values (B, k)."""
        s = self.cfg.image_size
        if images.ndim != 4 or images.shape[1:] != (3, s, s):
            raise InvalidArgumentError(f"DeepJSCC expects images of shape (B, 3, {s}, {s}), got "
                                       f"{tuple(images.shape)}")
        z = self.encoder(images)  # (B, c, s', s')
        return self.normalize(z.flatten(1))  # (B, k)

    def decode(self, y: Tensor) -> Tensor:
        """Received channel values (B, k) -> images (B, 3, H, W) in [-1, 1]."""
        s = self.cfg.latent_side
        x = self.decoder(y.reshape(y.shape[0], self.cfg.latent_channels, s, s))  # (B, 3, H, W)
        return torch.sigmoid(x) * 2.0 - 1.0

    def forward(self, images: Tensor, snr_db: float | Sequence[float] | Tensor,
                channel: ChannelConfig | Mapping[str, Any] | None = None, seed: int = 0,
                equalizer: str = "mmse") -> Tensor:
        """Encoder -> emulator channel -> receiver estimate -> decoder, differentiable.

        Input: images (B, 3, H, W) in [-1, 1]; ``snr_db`` one value or one per image (see :func:`channel_pass`).
        Output: reconstructions (B, 3, H, W) in [-1, 1].
        """
        x = self.encode(images)  # (B, k)
        y, _ = channel_pass(x, snr_db, channel, seed, equalizer, power=self.cfg.power)
        return self.decode(y)


def _image_seed(seed: int, i: int) -> int:
    from edsc.world.seeds import stable_seed

    return stable_seed("deepjscc-channel", int(seed), int(i)) % (2 ** 62)


def channel_pass(x: Tensor, snr_db: float | Sequence[float] | Tensor,
                 channel: ChannelConfig | Mapping[str, Any] | None = None, seed: int = 0,
                 equalizer: str = "mmse", power: float | None = None) -> tuple[Tensor, list[Any]]:
    """Real messages through the emulator and the receiver's estimator, keeping gradients.

    Input
    -----
    x : (B, k) real
    snr_db : one SNR for the batch (one :func:`~channel_emulator.link.apply_channel` call with ``seed``), or one
        per image (B values: one call per image, image ``i`` with a seed derived from ``(seed, i)``)
    channel : channel parameters besides the SNR (default AWGN, perfect CSI)
    seed : channel seed
    equalizer : ``recover``'s ``"mmse"`` / ``"zf"`` / ``"none"``
    power : overrides the channel's ``power`` (P per complex symbol)

    Output
    ------
    (y (B, k) the receiver's estimate of the power-normalised message, list of ChannelOutput)
    """
    from edsc.link import estimate

    if isinstance(snr_db, Tensor):
        snr_db = snr_db.detach().flatten().tolist() if snr_db.numel() > 1 else float(snr_db)
    if isinstance(snr_db, (list, tuple)):
        if len(snr_db) != x.shape[0]:
            raise InvalidArgumentError(f"{len(snr_db)} SNR values for {x.shape[0]} images")
        ys, outs = [], []
        for i, s in enumerate(snr_db):
            y_i, o = channel_pass(x[i:i + 1], float(s), channel, _image_seed(seed, i), equalizer, power)
            ys.append(y_i)
            outs += o
        return torch.cat(ys), outs
    cfg = resolve_channel(channel, float(snr_db))
    if power is not None and cfg.power != power:
        cfg = cfg.replace(power=float(power))
    y, out = estimate(x, cfg, seed=int(seed), equalizer=equalizer)  # (B, k)
    return y.to(x.dtype), [out]


class DeepJSCCLink:
    """:class:`~edsc.baselines.common.ImageLink` around a trained :class:`DeepJSCC`.

    Parameters
    ----------
    model : DeepJSCC (e.g. ``load_deepjscc()``); used in eval mode without gradients
    equalizer : the receiver's estimator, ``"mmse"`` (the model was trained with it), ``"zf"`` or ``"none"``
    """

    def __init__(self, model: DeepJSCC, equalizer: str = "mmse", name: str = "deepjscc"):
        self.model = model
        self.equalizer = equalizer
        self.name = name

    def cbr(self) -> float:
        """Real channel values per source real value without pilots (1/12 for the shipped model)."""
        return float(self.model.cfg.cbr)

    def transmit(self, images: Tensor, snr_db: float, channel: ChannelConfig | Mapping[str, Any] | None = None,
                 seed: int = 0) -> LinkResult:
        """Encode, send through the emulator at ``snr_db``, estimate, decode.

        Input: images (B, 3, H, W) in [-1, 1] (H = W = the model's ``image_size``); snr_db; channel; seed.
        Output: LinkResult with ``images`` on the input's device and ``info`` = channel uses, data CBR, measured
        mean energy per transmitted data symbol, SNR, channel model, seed.
        """
        images = check_images(images)
        cfg = resolve_channel(channel, snr_db)
        dev = next(self.model.parameters()).device
        with torch.no_grad():
            x = self.model.encode(images.to(dev))  # (B, k)
            y, outs = channel_pass(x, cfg.snr_db, cfg, seed, self.equalizer, power=self.model.cfg.power)
            rec = self.model.decode(y).clamp(-1.0, 1.0).to(images.device)  # (B, 3, H, W)
        out = outs[0]
        lay = out.side_info.layout
        data = out.transmitted[:, lay.data_indices.to(out.transmitted.device)]  # (B, k/2)
        h, w = images.shape[2], images.shape[3]
        info = {
            "channel_uses": int(lay.n_uses),
            "k_real": int(x.shape[1]),
            "cbr_data": x.shape[1] / (3 * h * w),
            "mean_symbol_energy": float((data.real.square() + data.imag.square()).mean()),
            "snr_db": cfg.snr_db,
            "channel": cfg.model,
            "seed": int(seed),
        }
        return LinkResult(images=rec, cbr=2.0 * lay.n_uses / (3 * h * w), info=info)


# ---------------------------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------------------------

def save_deepjscc(model: DeepJSCC, path: str | os.PathLike[str], training: Mapping[str, Any] | None = None
                  ) -> Path:
    """Writes ``model.safetensors`` and ``config.json`` (arch, config, sha256 and size of the weights, training
    notes) into the directory ``path``. Output: the directory."""
    from shared.atomic_io import save_safetensors_atomic, write_json_atomic
    from shared.bundle import sha256_file

    out = Path(path)
    weights = save_safetensors_atomic(model.state_dict(), out / WEIGHTS_FILE)
    meta = {
        "arch": ARCH,
        "config": model.cfg.to_dict(),
        "k_real": model.k,
        "parameters": sum(p.numel() for p in model.parameters()),
        "files": {WEIGHTS_FILE: {"sha256": sha256_file(weights), "bytes": weights.stat().st_size}},
        "training": dict(training or {}),
    }
    write_json_atomic(out / CONFIG_FILE, meta)
    return out


def load_deepjscc(path: str | os.PathLike[str] | None = None, device: torch.device | str = "cpu") -> DeepJSCC:
    """Loads a DeepJSCC written by :func:`save_deepjscc` (default: the shipped ``bundles/baselines/deepjscc-128``).

    Parameters
    ----------
    path : the directory (or its ``config.json``)
    device : where the model goes

    Output
    ------
    DeepJSCC in eval mode

    Raises
    ------
    BundleError
        Naming the file: directory or file missing, JSON unreadable, unknown architecture, sha256 mismatch,
        unreadable safetensors, weights that do not fit the architecture.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from shared.bundle import sha256_file

    root = Path(path) if path is not None else DEFAULT_DIR
    if root.name == CONFIG_FILE:
        root = root.parent
    cfg_path, weights = root / CONFIG_FILE, root / WEIGHTS_FILE
    if not root.is_dir():
        raise BundleError(f"DeepJSCC weights directory {root} does not exist (train with "
                          "`python -m edsc.train.deepjscc RUN_DIR` and export there)")
    if not cfg_path.is_file():
        raise BundleError(f"{cfg_path} is missing")
    try:
        meta = json.loads(cfg_path.read_text(encoding="utf-8"))
        if not isinstance(meta, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        raise BundleError(f"{cfg_path} is not readable JSON: {exc}") from exc
    if meta.get("arch") != ARCH:
        raise BundleError(f"{cfg_path}: architecture {meta.get('arch')!r} is not {ARCH!r}")
    if not weights.is_file():
        raise BundleError(f"{weights} is missing")
    expected = (meta.get("files") or {}).get(WEIGHTS_FILE, {}).get("sha256")
    if not expected:
        raise BundleError(f"{cfg_path} gives no sha256 for {WEIGHTS_FILE}")
    actual = sha256_file(weights)
    if actual != expected:
        raise BundleError(f"{weights} is corrupt: sha256 {actual} does not match {expected} in {cfg_path}")
    try:
        model = DeepJSCC(DeepJSCCConfig.from_dict(meta.get("config") or {}))
    except InvalidArgumentError as exc:
        raise BundleError(f"{cfg_path}: bad DeepJSCC config: {exc}") from exc
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as exc:
        raise BundleError(f"{weights} is not a readable safetensors file: {exc}") from exc
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise BundleError(f"{weights} does not fit the DeepJSCC config in {cfg_path}: {exc}") from exc
    return model.to(device).eval()
