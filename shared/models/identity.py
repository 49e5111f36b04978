"""Identity encoder F: face image → identity features, for the identity loss of JECC training (eq. 13).

The paper's L_id = ‖F(I_after) − F(I_before)‖₁ uses a face-recognition network. The built-in bundle's world is
SynthFace, whose faces are drawn from an explicit identity vector (25 parameters in [−1, 1]: face shape, skin,
hair, eyes, brows, nose, lips, background, lighting, clothes), so F is trained to *regress* that vector from the
image, whatever the attribute degrees. Features of two images of the same person then agree, and an edit that
changes the person (not just the attribute) moves them.

Output layout: one value per linear dimension (the normalised parameter itself, in [−1, 1]) and two values
``(cos 2πh, sin 2πh)`` per cyclic dimension (hues: h = (u + 1)/2 ∈ [0, 1) wraps around), in the order of
``config.dims``. :meth:`IdentityEncoder.encode_targets` maps identity vectors into this layout and
:meth:`IdentityEncoder.decode` maps features back to identity vectors.

Architecture (``"identity_cnn"``): strided 3×3 conv stages (conv s2 → norm → SiLU, then ``blocks[i]`` residual
3×3 conv blocks) → adaptive average pool to ``pool × pool`` (keeps coarse position: eye spacing, face width) →
Linear → SiLU → Linear. Preprocessing is the predictors' (:func:`shared.models.predictor.images_to_unit`: uint8
quantisation, straight-through when ``differentiable``), then ``2x − 1``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from shared.dataclass_config import checked_fields
from shared.errors import BundleError, InvalidArgumentError
from shared.models.predictor import images_to_unit, _norm2d

__all__ = [
    "SYNTHFACE_IDENTITY_DIMS",
    "SYNTHFACE_CYCLIC_DIMS",
    "IdentityEncoderConfig",
    "IdentityEncoder",
    "build_identity_encoder",
    "IDENTITY_ARCHS",
]

#: The SynthFace identity parameters (``edsc.world.synthface.IDENTITY_DIMS``; ``shared`` does not import ``edsc``,
#: a test checks that both lists agree).
SYNTHFACE_IDENTITY_DIMS: tuple[str, ...] = (
    "face_width", "face_length", "jaw_taper", "skin_tone", "hair_darkness", "hair_warmth", "hair_length",
    "hair_volume", "eye_hue", "eye_size", "eye_spacing", "brow_thickness", "brow_height", "brow_arch",
    "nose_length", "nose_width", "lip_fullness", "lip_tint", "mouth_width", "bg_hue", "bg_brightness",
    "light_dir", "light_strength", "clothes_hue", "hair_wave",
)
#: Hues wrap around: 0 and 1 are the same colour.
SYNTHFACE_CYCLIC_DIMS: tuple[str, ...] = ("bg_hue", "clothes_hue")
IDENTITY_ARCHS: tuple[str, ...] = ("identity_cnn",)


@dataclass
class IdentityEncoderConfig:
    """Configuration of :class:`IdentityEncoder`.

    Parameters
    ----------
    dims : names of the identity parameters, in vector order
    cyclic : the names among ``dims`` that wrap around (encoded as cos / sin)
    widths : output channels of the strided stages (each halves the resolution)
    blocks : residual 3×3 blocks after each stage's strided conv (same length as ``widths``)
    norm : ``"group"`` or ``"batch"``
    groups : GroupNorm groups (clipped to a divisor of the width)
    pool : side of the adaptive average pool before the head
    hidden : width of the head's hidden layer
    input_size : images are resized (area) to this side
    quantize : quantise to the uint8 grid first (see :func:`shared.models.predictor.images_to_unit`)
    """

    dims: list[str] = field(default_factory=lambda: list(SYNTHFACE_IDENTITY_DIMS))
    cyclic: list[str] = field(default_factory=lambda: list(SYNTHFACE_CYCLIC_DIMS))
    widths: list[int] = field(default_factory=lambda: [16, 32, 48, 96, 160])
    blocks: list[int] = field(default_factory=lambda: [0, 0, 1, 1, 1])
    norm: str = "group"
    groups: int = 8
    pool: int = 2
    hidden: int = 256
    input_size: int = 128
    quantize: bool = True

    def __post_init__(self) -> None:
        self.dims = [str(d) for d in self.dims]
        self.cyclic = [str(d) for d in self.cyclic]
        self.widths = [int(w) for w in self.widths]
        self.blocks = [int(b) for b in self.blocks]
        if not self.dims or len(set(self.dims)) != len(self.dims):
            raise InvalidArgumentError(f"dims must be unique and non-empty, got {self.dims}")
        unknown = [c for c in self.cyclic if c not in self.dims]
        if unknown:
            raise InvalidArgumentError(f"cyclic dims {unknown} are not in dims")
        if not self.widths or min(self.widths) < 1:
            raise InvalidArgumentError(f"widths must be positive, got {self.widths}")
        if len(self.blocks) != len(self.widths) or min(self.blocks) < 0:
            raise InvalidArgumentError(f"blocks must be {len(self.widths)} non-negative counts, got {self.blocks}")
        if self.norm not in ("group", "batch"):
            raise InvalidArgumentError(f"norm must be 'group' or 'batch', got {self.norm!r}")
        if self.pool < 1 or self.hidden < 1 or self.input_size < 8:
            raise InvalidArgumentError("pool and hidden must be >= 1 and input_size >= 8")

    @property
    def out_dim(self) -> int:
        """Feature size: one per linear dimension, two per cyclic one."""
        return len(self.dims) + len(self.cyclic)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "IdentityEncoderConfig":
        return cls(**checked_fields(cls, d))


_norm = _norm2d  # the predictor's normalisation-layer factory (GroupNorm groups clipped to a divisor)


class _ResBlock(nn.Module):
    def __init__(self, c: int, norm: str, groups: int):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.norm = _norm(norm, c, groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + F.silu(self.norm(self.conv(x)))


class IdentityEncoder(nn.Module):
    """F: images in [−1, 1] → identity features (B, out_dim).

    Parameters
    ----------
    config : IdentityEncoderConfig or dict

    Input
    -----
    images : torch.Tensor
        (B, 3, H, W) in [−1, 1] (resized to ``input_size``).

    Output
    ------
    torch.Tensor
        (B, out_dim) features in the layout of the module docstring; :meth:`decode` turns them into identity
        vectors (B, len(dims)).

    Attributes
    ----------
    differentiable : bool
        Straight-through quantisation so L_id back-propagates to the generator (default False).
    """

    def __init__(self, config: IdentityEncoderConfig | Mapping[str, Any] | None = None):
        super().__init__()
        if config is None:
            config = IdentityEncoderConfig()
        elif not isinstance(config, IdentityEncoderConfig):
            config = IdentityEncoderConfig.from_dict(config)
        self.cfg = config
        self.differentiable = False
        stages: list[nn.Module] = []
        c_in = 3
        for w, nb in zip(config.widths, config.blocks):
            layers: list[nn.Module] = [nn.Conv2d(c_in, w, 3, stride=2, padding=1, bias=False),
                                       _norm(config.norm, w, config.groups), nn.SiLU()]
            layers += [_ResBlock(w, config.norm, config.groups) for _ in range(nb)]
            stages.append(nn.Sequential(*layers))
            c_in = w
        self.trunk = nn.Sequential(*stages)
        self.head = nn.Sequential(nn.Linear(c_in * config.pool * config.pool, config.hidden), nn.SiLU(),
                                  nn.Linear(config.hidden, config.out_dim))
        cyc = set(config.cyclic)
        # feature layout: for each dim in order, one slot (linear) or two (cos, sin)
        lin_idx, cyc_idx, cyc_feat, lin_feat = [], [], [], []
        k = 0
        for i, name in enumerate(config.dims):
            if name in cyc:
                cyc_idx.append(i)
                cyc_feat.append(k)
                k += 2
            else:
                lin_idx.append(i)
                lin_feat.append(k)
                k += 1
        self.register_buffer("_lin_idx", torch.tensor(lin_idx, dtype=torch.long), persistent=False)
        self.register_buffer("_lin_feat", torch.tensor(lin_feat, dtype=torch.long), persistent=False)
        self.register_buffer("_cyc_idx", torch.tensor(cyc_idx, dtype=torch.long), persistent=False)
        self.register_buffer("_cyc_feat", torch.tensor(cyc_feat, dtype=torch.long), persistent=False)

    @property
    def out_dim(self) -> int:
        return self.cfg.out_dim

    @property
    def dims(self) -> list[str]:
        return list(self.cfg.dims)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        x = images_to_unit(images, self.cfg.input_size, self.cfg.quantize, self.differentiable)
        return x * 2.0 - 1.0

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.trunk(self.preprocess(images))
        x = F.adaptive_avg_pool2d(x, self.cfg.pool).flatten(1)  # (B, C·pool²)
        return self.head(x)  # (B, out_dim)

    # -- target layout ------------------------------------------------------------------------------------------
    def encode_targets(self, identity: torch.Tensor) -> torch.Tensor:
        """Identity vectors (B, D) in [−1, 1] → features (B, out_dim) (cyclic dims as cos / sin)."""
        if identity.ndim != 2 or identity.shape[1] != len(self.cfg.dims):
            raise InvalidArgumentError(
                f"identity must have shape (B, {len(self.cfg.dims)}), got {tuple(identity.shape)}")
        out = identity.new_zeros(identity.shape[0], self.out_dim)
        out[:, self._lin_feat] = identity[:, self._lin_idx]
        ang = (identity[:, self._cyc_idx] + 1.0) * math.pi  # 2π·h with h = (u + 1)/2
        out[:, self._cyc_feat] = ang.cos()
        out[:, self._cyc_feat + 1] = ang.sin()
        return out

    def decode(self, features: torch.Tensor) -> torch.Tensor:
        """Features (B, out_dim) → identity vectors (B, D) in [−1, 1] (cyclic dims via atan2, wrapped)."""
        if features.ndim != 2 or features.shape[1] != self.out_dim:
            raise InvalidArgumentError(f"features must have shape (B, {self.out_dim}), got {tuple(features.shape)}")
        out = features.new_zeros(features.shape[0], len(self.cfg.dims))
        out[:, self._lin_idx] = features[:, self._lin_feat].clamp(-1.0, 1.0)
        ang = torch.atan2(features[:, self._cyc_feat + 1], features[:, self._cyc_feat])  # (−π, π]
        h = torch.remainder(ang / (2.0 * math.pi), 1.0)  # [0, 1)
        out[:, self._cyc_idx] = h * 2.0 - 1.0
        return out

    def identity(self, images: torch.Tensor) -> torch.Tensor:
        """Images → identity vectors (B, D) (eval mode, no autograd graph)."""
        was = self.training
        self.eval()
        try:
            with torch.no_grad():
                return self.decode(self.forward(images))
        finally:
            self.train(was)

    def config(self) -> dict[str, Any]:
        return self.cfg.to_dict()


def build_identity_encoder(arch: str, config: Mapping[str, Any] | None = None) -> IdentityEncoder:
    """Bundle builder for the ``identity_encoder`` component (``register_builder("identity_encoder", ...)``).

    Parameters
    ----------
    arch : ``"identity_cnn"``
    config : :class:`IdentityEncoderConfig` fields
    """
    if arch not in IDENTITY_ARCHS:
        raise BundleError(f"unknown identity encoder architecture {arch!r} (expected one of {IDENTITY_ARCHS})")
    try:
        return IdentityEncoder(IdentityEncoderConfig.from_dict(dict(config or {})))
    except InvalidArgumentError as e:
        raise BundleError(f"identity encoder config: {e}") from e
