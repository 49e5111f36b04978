"""SynthFace: a procedural, fully labelled face world for training the project's own face models.

No pretrained face GAN is available offline, so editdsc trains its StyleGAN2, attribute predictor, identity
encoder and field functions on faces drawn by this module. Every face is an illustrated, front-facing portrait
drawn from

* an **identity** vector of ``D = len(IDENTITY_DIMS)`` continuous parameters (face shape, skin tone, hair colour,
  length and volume, eye colour / size / spacing, brows, nose, lips, mouth width, background, lighting, clothes), and
* five **attribute degrees** on the CelebA-Dialog scale 0..5 (``ATTRIBUTES``), where fractional degrees render
  in between (every drawing parameter is a piecewise-linear function of the degree, so the image is continuous
  in the degree).

Drawing: signed-distance fields (negative inside) turned into coverage with a one-pixel linear edge ramp
(a box-filtered edge, i.e. anti-aliased), composited layer by layer in a fixed z-order::

    background, hair (back), neck, clothes, ears, face (lambert-shaded), blush, wrinkles, beard, mouth, nose,
    eyes, brows, hair (front: hairline + bangs), glasses

Glasses are drawn after the bangs because they sit in front of the hair. Everything is float32, vectorised over
the batch (the only Python loops run over a few shape layers), deterministic (textures such as stubble or hair
strands are fixed functions of position and identity) and works on CPU and CUDA. Drawing coordinates are
resolution independent: ``x`` (right) and ``y`` (down) run over [-1/1.2, 1/1.2] across the image, so a face looks
the same at every ``size``. Each feature is evaluated only inside a fixed window that bounds it for every identity
and degree (checked exhaustively against full-canvas evaluation), which keeps rendering cheap.

Identity space: every dimension lives in [-1, 1] and :func:`sample_identity` draws it uniformly;
``IDENTITY_PRIOR[name] = (low, high, meaning)`` gives the physical range that [-1, 1] maps to linearly
(see :func:`identity_to_physical`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor

from shared.errors import InvalidArgumentError
from shared.world_spec import ATTRIBUTES, DEGREE_NAMES, MAX_DEGREE, NUM_DEGREES

__all__ = [
    "ATTRIBUTES",
    "NUM_DEGREES",
    "DEGREE_NAMES",
    "IDENTITY_DIMS",
    "IDENTITY_PRIOR",
    "sample_identity",
    "sample_degrees",
    "identity_to_physical",
    "render",
    "SynthFace",
]


#: Identity prior. Each normalised dimension u ~ U[-1, 1] maps linearly onto [low, high]:
#: value = low + (u + 1) / 2 * (high - low). Lengths are in drawing units (the image spans [-1/1.2, 1/1.2]).
IDENTITY_PRIOR: dict[str, tuple[float, float, str]] = {
    "face_width": (0.42, 0.50, "half-width of the head ellipse"),
    "face_length": (0.58, 0.67, "half-height of the head ellipse"),
    "jaw_taper": (0.12, 0.34, "how much the jaw narrows towards the chin (0 = round, larger = pointed)"),
    "skin_tone": (0.0, 1.0, "skin colour: 0 fair, 0.5 medium/olive, 1 deep brown"),
    "hair_darkness": (0.0, 1.0, "hair colour: 0 light blond, 0.33 dark blond, 0.67 brown, 1 black (grey/white is age)"),
    "hair_warmth": (0.0, 1.0, "0 ash/neutral hair, 1 copper/auburn"),
    "hair_length": (0.0, 1.0, "0 cropped above the ears, 0.5 jaw-length bob, 1 past the shoulders"),
    "hair_volume": (0.02, 0.11, "how far the hair stands off the skull"),
    "eye_hue": (0.0, 1.0, "iris colour: 0 dark brown, 0.33 hazel, 0.67 green, 1 blue"),
    "eye_size": (0.86, 1.14, "scale of the eye opening and iris"),
    "eye_spacing": (0.35, 0.42, "half the distance between the eye centres, as a fraction of the face half-width"),
    "brow_thickness": (0.017, 0.034, "eyebrow thickness"),
    "brow_height": (0.085, 0.125, "eyebrow height above the eye line"),
    "brow_arch": (0.0, 0.035, "eyebrow arch"),
    "nose_length": (0.30, 0.38, "eye line to nose tip, as a fraction of the face half-height"),
    "nose_width": (0.040, 0.072, "half-width of the nose wings"),
    "lip_fullness": (0.65, 1.35, "scale of the lip thickness"),
    "lip_tint": (0.0, 1.0, "0 natural lips, 1 red lips"),
    "mouth_width": (0.105, 0.14, "half-width of the closed mouth"),
    "bg_hue": (0.0, 1.0, "background hue (cyclic)"),
    "bg_brightness": (0.35, 0.92, "background brightness"),
    "light_dir": (-0.55, 0.55, "horizontal light direction (negative = light from the viewer's left)"),
    "light_strength": (0.12, 0.38, "strength of the shading"),
    "clothes_hue": (0.0, 1.0, "clothing hue (cyclic)"),
    "hair_wave": (0.0, 1.0, "phase of the hair locks and strands"),
}
IDENTITY_DIMS: tuple[str, ...] = tuple(IDENTITY_PRIOR)
_IDX = {name: i for i, name in enumerate(IDENTITY_DIMS)}


# --------------------------------------------------------------------------------------------------------------
# Per-degree drawing tables (value at degree 0..5; fractional degrees interpolate linearly)
# --------------------------------------------------------------------------------------------------------------
_T = {
    # bangs: fringe length as a fraction of the forehead height; lock depth
    "bangs_len": (0.0, 0.20, 0.40, 0.60, 0.92, 1.22),
    # eyeglasses
    "glass_on": (0.0, 1.0, 1.0, 1.0, 1.0, 1.0),
    "frame_w": (0.0, 0.010, 0.020, 0.050, 0.022, 0.056),
    "frame_a": (0.0, 0.40, 1.0, 1.0, 1.0, 1.0),
    "frame_dark": (0.0, 0.0, 1.0, 1.0, 1.0, 1.0),
    "lens_a": (0.0, 0.10, 0.06, 0.08, 0.76, 0.95),
    "lens_scale": (1.0, 1.0, 1.0, 1.0, 1.08, 1.12),
    "glare_a": (0.0, 0.45, 0.30, 0.30, 0.35, 0.30),
    # beard
    "beard_a": (0.0, 0.42, 0.90, 0.97, 1.0, 1.0),
    "beard_dots": (1.0, 1.0, 0.15, 0.0, 0.0, 0.0),
    "beard_grow": (0.0, 0.0, 0.0, 0.016, 0.040, 0.055),
    "beard_ext": (0.0, 0.0, 0.0, 0.055, 0.15, 0.34),
    "beard_cheek": (0.0, 0.25, 0.0, 0.45, 0.80, 1.0),
    "beard_mous": (0.0, 1.0, 0.75, 1.0, 1.0, 1.0),
    "beard_soft": (3.0, 3.0, 1.5, 1.3, 1.6, 1.8),
    "beard_tex": (0.0, 0.0, 0.03, 0.045, 0.06, 0.07),
    # smiling
    "smile_curv": (-0.004, 0.050, 0.052, 0.054, 0.056, 0.052),
    "smile_wide": (1.0, 1.12, 1.18, 1.25, 1.32, 1.34),
    "smile_up": (0.0, 0.0, 0.013, 0.021, 0.024, 0.026),
    "smile_lo": (0.0, 0.0, 0.014, 0.034, 0.062, 0.110),
    "smile_teeth_lo": (0.0, 0.0, 0.0, 0.0, 0.65, 0.55),
    "smile_tongue": (0.0, 0.0, 0.0, 0.0, 0.25, 1.0),
    "smile_squint": (0.0, 0.0, 0.06, 0.18, 0.38, 1.0),
    "smile_cheek": (0.0, 0.25, 0.45, 0.65, 0.85, 1.0),
    "smile_brow": (0.0, 0.0, 0.0, 0.004, 0.010, 0.020),
    # age
    "age_head": (0.95, 0.97, 1.0, 1.0, 1.0, 0.99),
    "age_len": (0.86, 0.95, 1.0, 1.01, 1.02, 1.03),
    "age_wid": (1.06, 1.01, 1.0, 1.02, 1.03, 1.02),
    "age_jaw": (0.40, 0.80, 1.0, 1.0, 1.05, 1.1),
    "age_eye": (1.34, 1.14, 1.0, 0.97, 0.92, 0.86),
    "age_eye_shift": (0.10, 0.04, 0.0, 0.0, 0.0, 0.0),
    "age_nose": (0.62, 0.86, 1.0, 1.03, 1.08, 1.13),
    "age_lip": (0.95, 1.05, 1.0, 0.88, 0.72, 0.58),
    "age_mouth": (0.80, 0.94, 1.0, 1.0, 1.0, 0.98),
    "age_wrinkle": (0.0, 0.0, 0.0, 0.40, 0.75, 1.0),
    "age_sag": (0.0, 0.0, 0.0, 0.15, 0.55, 1.0),
    "age_grey": (0.0, 0.0, 0.0, 0.22, 0.62, 0.95),
    "age_blush": (0.60, 0.28, 0.10, 0.06, 0.05, 0.04),
    "age_recede": (0.0, 0.0, 0.0, 0.01, 0.03, 0.07),
    "age_neck": (0.78, 0.92, 1.0, 1.03, 1.03, 1.0),
    "age_brow": (0.72, 0.92, 1.0, 1.0, 0.95, 0.9),
    "age_ear": (0.95, 1.0, 1.0, 1.02, 1.07, 1.12),
    "age_skin": (0.0, 0.0, 0.0, 0.1, 0.35, 0.6),
}

# Parameters that change late / early between two degrees (keeps the in-between faces in between).
_WARP = {"frame_w": "late"}

_SKIN = ((0.99, 0.86, 0.76), (0.90, 0.70, 0.55), (0.70, 0.50, 0.36), (0.42, 0.28, 0.20))
_HAIR = ((0.92, 0.80, 0.52), (0.78, 0.58, 0.30), (0.43, 0.29, 0.18), (0.11, 0.10, 0.10))
_IRIS = ((0.27, 0.16, 0.09), (0.50, 0.36, 0.16), (0.32, 0.50, 0.28), (0.30, 0.52, 0.80))
_GREY = (0.82, 0.82, 0.84)
_WHITE = (0.95, 0.95, 0.96)


# --------------------------------------------------------------------------------------------------------------
# Sampling
# --------------------------------------------------------------------------------------------------------------
def sample_identity(n: int, generator: torch.Generator | None = None, device=None) -> Tensor:
    """Draw ``n`` identities from the prior: each dimension uniform in [-1, 1].

    Output: (n, D) float32, ``D = len(IDENTITY_DIMS)``. With a ``generator`` the draw is reproducible (the
    generator's device decides where the numbers are drawn; the result is moved to ``device``).
    """
    if n < 0:
        raise InvalidArgumentError(f"cannot sample {n} identities")
    gdev = generator.device if generator is not None else (device or "cpu")
    u = torch.rand(n, len(IDENTITY_DIMS), generator=generator, device=gdev, dtype=torch.float32)
    return (u * 2.0 - 1.0).to(device or gdev)


def sample_degrees(
    n: int, generator: torch.Generator | None = None, device=None, fractional: bool = False
) -> Tensor:
    """Draw ``n`` attribute-degree vectors (n, 5), float32: integers 0..5 uniformly, or uniform in [0, 5]
    when ``fractional``."""
    if n < 0:
        raise InvalidArgumentError(f"cannot sample {n} degree vectors")
    gdev = generator.device if generator is not None else (device or "cpu")
    if fractional:
        d = torch.rand(n, len(ATTRIBUTES), generator=generator, device=gdev, dtype=torch.float32) * MAX_DEGREE
    else:
        d = torch.randint(0, NUM_DEGREES, (n, len(ATTRIBUTES)), generator=generator, device=gdev).float()
    return d.to(device or gdev)


def identity_to_physical(identity: Tensor) -> dict[str, Tensor]:
    """Map normalised identities (B, D) in [-1, 1] onto their physical ranges: ``{name: (B,)}``."""
    identity = _check_identity(identity)
    u = (identity.clamp(-1.0, 1.0) + 1.0) * 0.5
    return {n: lo + u[:, i] * (hi - lo) for i, (n, (lo, hi, _)) in enumerate(IDENTITY_PRIOR.items())}


# --------------------------------------------------------------------------------------------------------------
# Small drawing helpers. Shapes broadcast: x is (1,1,1,W), y is (1,1,H,1), parameters are (B,1,1,1).
# --------------------------------------------------------------------------------------------------------------
def _table(deg: Tensor, values: tuple[float, ...], warp: str | None = None) -> Tensor:
    """Piecewise lookup of a per-degree table. deg: (B,) in [0, 5] -> (B,).

    Between two integer degrees the value moves linearly (``warp=None``), late (``"late"``: f²) or early
    (``"early"``: 1-(1-f)²); all three are continuous and monotone in the degree."""
    t = torch.tensor(values, dtype=deg.dtype, device=deg.device)
    d = deg.clamp(0.0, float(MAX_DEGREE))
    i = d.floor().clamp(max=MAX_DEGREE - 1)
    f = d - i
    if warp == "late":
        f = f * f
    elif warp == "early":
        f = 1.0 - (1.0 - f).square()
    i = i.long()
    return t[i] + f * (t[i + 1] - t[i])


def _palette(stops: tuple[tuple[float, float, float], ...], s: Tensor) -> Tensor:
    """Piecewise-linear colour ramp through ``stops`` at s in [0, 1]. s: (B,) -> (B, 3)."""
    t = torch.tensor(stops, dtype=s.dtype, device=s.device)  # (K, 3)
    k = t.shape[0] - 1
    p = s.clamp(0.0, 1.0) * k
    i = p.floor().clamp(max=k - 1)
    f = (p - i)[:, None]
    i = i.long()
    return t[i] + f * (t[i + 1] - t[i])


def _hue(h: Tensor, sat: float, val: Tensor | float) -> Tensor:
    """Smooth cyclic colour (cosine palette). h: (B,) -> (B, 3)."""
    phase = torch.tensor((0.0, 1.0 / 3.0, 2.0 / 3.0), dtype=h.dtype, device=h.device)
    c = 0.5 + 0.5 * torch.cos(2.0 * math.pi * (h[:, None] + phase))
    c = 0.5 + sat * (c - 0.5)
    if isinstance(val, Tensor):
        val = val[:, None]
    return c * val


def _luma(c: Tensor) -> Tensor:
    """(B, 3) -> (B,) luminance."""
    return c @ torch.tensor((0.299, 0.587, 0.114), dtype=c.dtype, device=c.device)


def _contrast(c: Tensor, ref: Tensor, gap: float) -> Tensor:
    """Push colours ``c`` (B, 3) away from ``ref`` in luminance (darker ones darker, lighter ones lighter) until
    they differ by ``gap`` (as far as the [0, 1] range allows)."""
    lc, lr = _luma(c), _luma(ref)
    target = torch.where(lc <= lr, torch.minimum(lc, (lr - gap).clamp(min=0.03)), torch.maximum(lc, lr + gap))
    return (c * (target / lc.clamp(min=1e-3))[:, None]).clamp(0.0, 1.0)


def _col(c: Tensor) -> Tensor:
    """(B, 3) colour -> (B, 3, 1, 1)."""
    return c[:, :, None, None]


def _p(v: Tensor) -> Tensor:
    """(B,) parameter -> (B, 1, 1, 1)."""
    return v[:, None, None, None]


def _lerp(a: Tensor, b: Tensor | tuple, w: Tensor | float) -> Tensor:
    if isinstance(b, tuple):
        b = torch.tensor(b, dtype=a.dtype, device=a.device).expand_as(a)
    if isinstance(w, Tensor) and w.dim() == 1:
        w = w[:, None]
    return a + (b - a) * w


class _Region:
    """A rectangular window of the canvas with its own coordinate grid; painting happens in place."""

    def __init__(self, img: Tensor, xs: Tensor, ys: Tensor, inv_px: float):
        self.img = img  # (B, 3, h, w) view of the canvas
        self.x = xs  # (1, 1, 1, w)
        self.y = ys  # (1, 1, h, 1)
        self.inv_px = inv_px
        self.px = 1.0 / inv_px

    def cov(self, d: Tensor, soft: float | Tensor = 1.0) -> Tensor:
        """Coverage of the signed distance ``d`` (negative inside) with a ``soft``-pixel edge ramp."""
        if isinstance(soft, Tensor) or soft != 1.0:
            return (0.5 - d * (self.inv_px / soft)).clamp_(0.0, 1.0)
        return (0.5 - d * self.inv_px).clamp_(0.0, 1.0)

    def paint(self, color: Tensor, alpha: Tensor) -> None:
        """Composite ``color`` (B,3,·,·) over the window with coverage ``alpha`` (B,1,·,·)."""
        self.img.lerp_(color, alpha)


_ZOOM = 1.2  # the image shows [-1/_ZOOM, 1/_ZOOM] of the drawing coordinates


class _Canvas:
    def __init__(self, batch: int, size: int, device, dtype=torch.float32):
        self.size = size
        self.inv_px = size / 2.0 * _ZOOM
        c = ((torch.arange(size, device=device, dtype=dtype) + 0.5) * (2.0 / size) - 1.0) / _ZOOM
        self.coords = c
        self.img = torch.empty(batch, 3, size, size, device=device, dtype=dtype)

    def region(self, y0: float = -1.0, y1: float = 1.0, x0: float = -1.0, x1: float = 1.0) -> _Region:
        s = self.size
        z = _ZOOM
        r0 = max(0, int(math.floor((y0 * z + 1.0) * 0.5 * s)))
        r1 = min(s, int(math.ceil((y1 * z + 1.0) * 0.5 * s)))
        c0 = max(0, int(math.floor((x0 * z + 1.0) * 0.5 * s)))
        c1 = min(s, int(math.ceil((x1 * z + 1.0) * 0.5 * s)))
        return _Region(
            self.img[:, :, r0:r1, c0:c1],
            self.coords[c0:c1].view(1, 1, 1, -1),
            self.coords[r0:r1].view(1, 1, -1, 1),
            self.inv_px,
        )


def _ellipse(x: Tensor, y: Tensor, rx: Tensor, ry: Tensor) -> tuple[Tensor, Tensor]:
    """Approximate signed distance to an axis-aligned ellipse (x, y already centred) and its k² = (x/rx)²+(y/ry)²."""
    k2 = (x / rx).square() + (y / ry).square()
    g = (rx * ry).sqrt() if isinstance(rx * ry, Tensor) else math.sqrt(rx * ry)
    return (k2.sqrt() - 1.0) * g, k2


# --------------------------------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------------------------------
def _check_identity(identity: Tensor) -> Tensor:
    if not isinstance(identity, Tensor) or identity.dim() != 2 or identity.shape[1] != len(IDENTITY_DIMS):
        shape = tuple(identity.shape) if isinstance(identity, Tensor) else type(identity).__name__
        raise InvalidArgumentError(f"identity must have shape (B, {len(IDENTITY_DIMS)}), got {shape}")
    return identity


def _check_degrees(degrees: Tensor, batch: int) -> Tensor:
    if not isinstance(degrees, Tensor) or degrees.dim() != 2 or degrees.shape != (batch, len(ATTRIBUTES)):
        shape = tuple(degrees.shape) if isinstance(degrees, Tensor) else type(degrees).__name__
        raise InvalidArgumentError(f"degrees must have shape ({batch}, {len(ATTRIBUTES)}), got {shape}")
    if not torch.isfinite(degrees).all():
        raise InvalidArgumentError("degrees must be finite")
    if degrees.numel() == 0:
        return degrees
    lo, hi = float(degrees.min()), float(degrees.max())
    if lo < -1e-4 or hi > MAX_DEGREE + 1e-4:
        raise InvalidArgumentError(f"degrees must lie in [0, {MAX_DEGREE}], got values in [{lo:g}, {hi:g}]")
    return degrees


class _Params:
    """All drawing parameters of a batch, each (B,1,1,1) (colours (B,3) / (B,3,1,1))."""

    def __init__(self, identity: Tensor, degrees: Tensor):
        ph = identity_to_physical(identity)
        d = degrees.clamp(0.0, float(MAX_DEGREE))
        bang, glass, beard, smile, age = d.unbind(1)
        T = {}
        for k, v in _T.items():
            src = {"bangs": bang, "glass": glass, "frame": glass, "lens": glass, "glare": glass, "beard": beard,
                   "smile": smile, "age": age}[k.split("_")[0]]
            T[k] = _table(src, v, _WARP.get(k))
        self.T = {k: _p(v) for k, v in T.items()}
        P = {k: _p(v) for k, v in ph.items()}
        self.raw = ph
        t = self.T

        # --- head geometry
        s = t["age_head"]
        self.scale = s
        self.rx = P["face_width"] * t["age_wid"] * s
        self.ry = P["face_length"] * t["age_len"] * s
        self.cy = -0.075 + (1.0 - s) * 0.25
        self.jaw = P["jaw_taper"] * t["age_jaw"]
        self.chin = self.cy + self.ry
        self.ve = self.cy + self.ry * (0.03 + t["age_eye_shift"])
        self.es = self.rx * P["eye_spacing"]
        self.eye_scale = P["eye_size"] * t["age_eye"]
        self.ew = 0.088 * s * P["eye_size"] * t["age_eye"].sqrt()
        self.eh = 0.046 * s * self.eye_scale
        self.ri = 0.036 * s * P["eye_size"] * t["age_eye"].pow(0.75)
        self.bh = P["brow_height"] * s * (0.8 + 0.2 * self.eye_scale) + t["smile_brow"]
        self.bt = P["brow_thickness"] * t["age_brow"]
        self.arch = P["brow_arch"]
        self.bw = 0.105 * s
        self.vn = self.ve + P["nose_length"] * self.ry * t["age_nose"] * 0.95
        self.nw = P["nose_width"] * (0.75 + 0.25 * t["age_nose"]) * s
        self.vm = self.vn + (0.095 + 0.03 * (t["age_nose"] - 1.0)) * s + 0.012
        self.mw = P["mouth_width"] * t["age_mouth"] * t["smile_wide"] * s
        self.lips = P["lip_fullness"] * t["age_lip"]
        self.hl0 = self.cy - self.ry * 0.66 + t["age_recede"]  # hairline at the centre
        self.vol = P["hair_volume"]
        self.hair_len = P["hair_length"]
        self.wave = P["hair_wave"]
        self.lx = P["light_dir"]
        self.ls = P["light_strength"]

        # --- colours (B, 3)
        skin = _palette(_SKIN, ph["skin_tone"])
        skin = _lerp(skin, skin * torch.tensor((1.02, 0.97, 0.93), device=skin.device), _table(age, _T["age_skin"]))
        self.skin = skin.clamp(0, 1)
        hair = _palette(_HAIR, ph["hair_darkness"])
        warm = hair * torch.tensor((1.25, 0.80, 0.58), device=hair.device)
        hair = _lerp(hair, warm.clamp(0, 1), 0.7 * ph["hair_warmth"] * (1.0 - 0.5 * ph["hair_darkness"]))
        hair = _contrast(hair, skin, 0.22)  # hair always stands out from the skin (bangs stay visible)
        grey = _table(age, _T["age_grey"])
        hair = _lerp(hair, _lerp(torch.tensor(_GREY, device=hair.device).expand_as(hair), _WHITE,
                                 ((grey - 0.6) / 0.35).clamp(0, 1)), grey.clamp(0, 0.95))
        self.hair = hair
        self.brow = _contrast(hair * 0.62 + 0.02, skin, 0.25)
        self.beard = _contrast(hair * 0.88, skin, 0.28)
        self.iris = _palette(_IRIS, ph["eye_hue"])
        lip = skin * torch.tensor((0.93, 0.66, 0.64), device=skin.device)
        red = torch.tensor((0.78, 0.20, 0.25), device=skin.device).expand_as(skin)
        self.lip = _lerp(lip, red * (0.55 + 0.45 * skin.mean(1, keepdim=True)), 0.65 * ph["lip_tint"])
        bgv = ph["bg_brightness"]
        self.bg = _hue(ph["bg_hue"], 0.42, bgv)
        self.clothes = _hue(ph["clothes_hue"] + 0.37, 0.65, 0.30 + 0.45 * (1.0 - bgv))


# --------------------------------------------------------------------------------------------------------------
# Layers
# --------------------------------------------------------------------------------------------------------------
def _face_sdf(P: _Params, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Signed distance to the face outline (an ellipse with a tapering jaw), plus normal components."""
    yc = y - P.cy  # (B,1,h,1)
    t = (yc / P.ry).clamp(0.0, 1.0)
    taper = 1.0 - P.jaw * t.square()  # (B,1,h,1)
    xs = x / taper  # (B,1,h,w)
    d, k2 = _ellipse(xs, yc, P.rx, P.ry)
    return d, xs / P.rx, k2


def _draw_background(c: _Canvas, P: _Params) -> None:
    r = c.region()
    top = _col(P.bg)
    bot = _col(P.bg * 0.78)
    g = (r.y + 1.0) * 0.5  # (1,1,H,1)
    col = top + (bot - top) * g  # (B,3,H,1)
    # soft halo behind the head
    halo = (1.0 - (r.x.square() + (r.y + 0.1).square() * 0.8).sqrt() * 0.9).clamp_(0.0, 1.0)  # (1,1,H,W)
    torch.add(col, halo, alpha=0.10, out=r.img)


def _hair_outer(P: _Params, x: Tensor, y: Tensor) -> Tensor:
    """Signed distance to the whole hair mass (skull cap plus the long part)."""
    hcy = P.cy - 0.13 * P.ry
    d_cap, _ = _ellipse(x, y - hcy, P.rx + P.vol + 0.012, P.ry * 0.89 + P.vol)
    # long part: hangs from the widest point of the cap, flares a little, rounded ends with soft locks
    bottom = P.cy + P.ry * (-0.22 + 0.75 * P.hair_len) + 0.45 * P.hair_len.square()
    locks = 0.5 - 0.5 * torch.cos(2.0 * math.pi * (x - 0.3 * P.wave) / 0.15)  # (B,1,1,W)
    bottom = bottom - (0.004 + 0.03 * P.hair_len) * locks
    half_w = P.rx + P.vol + 0.012 + (0.10 * P.hair_len) * (y - hcy).clamp(min=0.0)  # (B,1,H,1)
    rr = 0.16 - 0.08 * P.hair_len
    qx = x.abs() - (half_w - rr)  # (B,1,H,W)
    qy = y - (bottom - rr)  # (B,1,H,W)
    outside = (qx.clamp(min=0.0).square() + qy.clamp(min=0.0).square()).sqrt()
    d_box = outside + torch.maximum(qx, qy).clamp_(max=0.0) - rr
    d_box = torch.maximum(d_box, hcy - y)
    return torch.minimum(d_cap, d_box)


def _strands(P: _Params, x: Tensor, y: Tensor, freq: float) -> Tensor:
    """Fan of hair strands radiating from below the face centre; values in [-1, 1]."""
    ang = torch.atan2(x, (P.cy + 0.35) - y)
    return (ang * freq + 6.0 * P.wave).sin_()


def _draw_hair_back(c: _Canvas, P: _Params, d_hair: Tensor, strands: Tensor) -> None:
    r = c.region()
    a = r.cov(d_hair)
    shade = 0.94 - 0.30 * ((r.y - P.ve) / 0.45).clamp(0.0, 1.0) + 0.02 * strands
    r.paint(_col(P.hair) * shade, a)


def _draw_neck_and_clothes(c: _Canvas, P: _Params) -> None:
    r = c.region(y0=0.1)
    nw = 0.165 * P.scale * P.T["age_neck"]
    yb = P.chin + 0.10
    d_neck = r.x.abs() - (nw + 0.6 * (r.y - yb).clamp(min=0.0).square())  # (B,1,h,w)
    d_neck = torch.maximum(d_neck, (P.cy + 0.2) - r.y)
    shade = 0.70 + 0.22 * ((r.y - P.chin) / 0.18).clamp(0.0, 1.0)  # (B,1,h,1) shadow under the jaw
    r.paint(_col(P.skin) * shade, r.cov(d_neck))
    # clothes: a wide ellipse with a round neckline
    d_body, _ = _ellipse(r.x, r.y - (P.chin + 0.78), 0.95 * (0.85 + 0.15 * P.scale), 0.56)
    d_neckline, _ = _ellipse(r.x, r.y - (P.chin + 0.2), nw + 0.06, 0.11)
    d_cl = torch.maximum(d_body, -d_neckline)
    shade = 1.0 - 0.25 * (r.x.abs() * 1.2).clamp_(max=1.0).square()  # (1,1,1,w)
    r.paint(_col(P.clothes) * shade, r.cov(d_cl))


def _draw_ears(c: _Canvas, P: _Params) -> None:
    r = c.region(-0.25, 0.35)
    es = P.T["age_ear"] * P.scale
    ex = r.x.abs() - (P.rx - 0.012)
    ey = r.y - (P.ve + 0.065 * es)
    d, _ = _ellipse(ex, ey, 0.05 * es, 0.095 * es)
    shade = 0.86 + 0.06 * P.lx * torch.sign(r.x)
    r.paint(_col(P.skin) * shade, r.cov(d))
    d_in, _ = _ellipse(ex - 0.012 * es, ey + 0.006, 0.024 * es, 0.06 * es)
    r.paint(_col(P.skin * 0.72), r.cov(d_in, 2.0) * 0.55)


def _draw_face(c: _Canvas, P: _Params) -> None:
    r = c.region(-0.8, 0.75, -0.62, 0.62)
    d, nx, k2 = _face_sdf(P, r.x, r.y)
    ny = (r.y - P.cy) / P.ry
    nz = (1.0 - k2).clamp_(min=0.0).sqrt_()
    lx = P.lx
    ly = -0.35
    lz = (1.0 - lx.square() - ly * ly).sqrt()
    shade = 1.0 + P.ls * (nx * lx + ny * ly + nz * lz - lz)  # (B,1,h,w)
    shade = shade.clamp_(0.45, 1.08)
    r.paint(_col(P.skin) * shade, r.cov(d))


def _draw_cheeks(c: _Canvas, P: _Params) -> None:
    """Rosy cheeks (childhood) and raised cheek highlights (smiling)."""
    r = c.region(-0.15, 0.42, -0.6, 0.6)
    blush = P.T["age_blush"] + 0.28 * P.T["smile_cheek"]
    cx = r.x.abs() - (P.es + 0.01)
    cy = r.y - (P.vn - 0.01 - 0.03 * P.T["smile_cheek"])
    d, _ = _ellipse(cx, cy, 0.085 * P.scale, 0.06 * P.scale)
    a = r.cov(d, 7.0) * (0.32 * blush)
    r.paint(_col(P.skin * torch.tensor((1.0, 0.72, 0.72), device=P.skin.device)), a)


def _draw_wrinkles(c: _Canvas, P: _Params) -> None:
    """Forehead lines, crow's feet, eye bags, nasolabial folds (age and smile) and jowl lines."""
    wr = P.T["age_wrinkle"]
    sag = P.T["age_sag"]
    line = _col(P.skin * torch.tensor((0.62, 0.50, 0.48), device=P.skin.device))
    w = 0.0065

    # forehead: three arched lines
    r = c.region(-0.65, 0.0, -0.4, 0.4)
    fh = (P.ve - P.bh) - P.hl0
    base = P.hl0 + fh * 0.42 - 0.02 * (1.0 - (r.x / 0.24).square())  # (B,1,1,w)
    sp = fh * 0.17
    u = (r.y - base) / sp  # (B,1,h,w)
    k = u.round().clamp_(0.0, 2.0)
    d = (u - k).abs_() * sp - w
    ends = r.x.abs() - (0.22 - 0.03 * k) * P.scale
    d = torch.maximum(d, ends)
    r.paint(line, r.cov(d) * (0.55 * wr))

    # eyes: crow's feet and bags
    r = c.region(-0.2, 0.25, -0.62, 0.62)
    ex = r.x.abs() - (P.es + P.ew + 0.012)
    ey = r.y - P.ve
    d1 = (ey - 0.45 * ex + 0.004).abs() - w * 0.8
    d2 = (ey + 0.4 * ex - 0.012).abs() - w * 0.8
    d3 = (ey - 0.05 * ex - 0.028).abs() - w * 0.8
    d = torch.minimum(torch.minimum(d1, d2), d3)
    d = torch.maximum(d, torch.maximum(-ex, ex - 0.05))
    r.paint(line, r.cov(d) * (0.65 * wr))
    t = ((r.x.abs() - P.es) / (P.ew * 0.8)).clamp(-1.0, 1.0)
    bag = P.ve + P.eh * 1.25 + 0.018 - 0.012 * (1.0 - t.square())
    d = torch.maximum((r.y - bag).abs() - w * 0.9, (r.x.abs() - P.es).abs() - P.ew * 0.8)
    r.paint(line, r.cov(d) * (0.5 * wr))

    # nasolabial folds: from the nose wings to beyond the mouth corners
    r = c.region(-0.05, 0.72, -0.45, 0.45)
    strength = 0.30 * P.T["smile_cheek"] + 0.55 * wr
    y0 = P.vn - 0.035
    y1 = P.vm + 0.03 + 0.04 * sag
    tt = ((r.y - y0) / (y1 - y0)).clamp(0.0, 1.0)  # (B,1,h,1)
    x0 = P.nw + 0.035
    x1 = P.mw + 0.035 + 0.01 * sag
    xf = x0 + (x1 - x0) * tt + 0.02 * (tt * (1.0 - tt))
    d = torch.maximum((r.x.abs() - xf).abs() - w, (r.y - (y0 + y1) * 0.5).abs() - (y1 - y0) * 0.5)
    r.paint(line, r.cov(d) * strength)
    # jowl / marionette lines from the mouth corners down
    y0 = P.vm + 0.025
    y1 = P.vm + 0.11
    tt = ((r.y - y0) / (y1 - y0)).clamp(0.0, 1.0)
    xf = P.mw * 0.95 + 0.012 + 0.03 * tt
    d = torch.maximum((r.x.abs() - xf).abs() - w, (r.y - (y0 + y1) * 0.5).abs() - (y1 - y0) * 0.5)
    r.paint(line, r.cov(d) * (0.5 * sag))


def _dots(x: Tensor, y: Tensor, pitch: float) -> Tensor:
    """A deterministic staggered dot lattice in [0, 1] (stubble texture)."""
    f = math.pi / pitch
    return ((f * (x + 0.5 * y)).sin() * (f * y).sin()).abs_()


def _draw_beard(c: _Canvas, P: _Params) -> None:
    t = P.T
    r = c.region(-0.2, 1.0, -0.7, 0.7)
    d_face, _, _ = _face_sdf(P, r.x, r.y)
    grow = t["beard_grow"]
    # outer boundary: the face grown outwards, plus a rounded extension below the chin
    d_out = d_face - grow
    ext = t["beard_ext"]
    ecy = P.chin - 0.06
    d_ext, _ = _ellipse(r.x, r.y - ecy, P.mw + 0.07 + 1.6 * grow, 0.06 + ext)
    d_ext = torch.maximum(d_ext, ecy - r.y)
    d_out = torch.minimum(d_out, d_ext)
    # inner/top boundary: moustache under the nose, along the mouth corners, up to the sideburns
    ax = r.x.abs()
    m = P.mw + 0.03
    t1 = (ax / m).clamp(0.0, 1.0)
    t2 = ((ax - m) / (P.rx - m)).clamp(0.0, 1.0)
    y_c = P.vn + 0.032 + (1.0 - t["beard_mous"]) * 0.06
    y_m = P.vm - 0.01 + (1.0 - t["beard_mous"]) * 0.04
    y_s = P.vm - 0.02 - (P.vm - P.ve - 0.05) * (0.55 + 0.45 * t["beard_cheek"])
    top = y_c + (y_m - y_c) * t1.square() + (y_s - y_m) * t2.pow(1.4)  # (B,1,1,w)
    top = top - 0.012 * t["beard_cheek"] * (1.0 - t2) * t2
    d_top = top - r.y
    soft = t["beard_soft"]
    a = r.cov(d_out, soft) * r.cov(d_top, 2.0 * soft)
    # texture: stubble dots fade into wavy strands
    dots = _dots(r.x + 0.05 * P.wave, r.y, 0.045)
    strands = (r.x * 40.0 + (r.y * 7.0).sin() * 2.5 + 5.0 * P.wave).sin()
    a = a * (t["beard_a"] * (1.0 - 0.3 * t["beard_dots"] + 0.3 * t["beard_dots"] * dots))
    shade = 1.0 + t["beard_tex"] * strands - 0.25 * ((r.y - P.chin) / 0.35).clamp(0.0, 1.0)
    r.paint(_col(P.beard) * shade, a)


def _draw_mouth(c: _Canvas, P: _Params) -> None:
    t = P.T
    r = c.region(0.05, 0.72, -0.4, 0.4)
    w = P.mw
    tx = (r.x / w).clamp(-1.0, 1.0)  # (B,1,1,w)
    s2 = 1.0 - tx.square()
    base = P.vm - t["smile_curv"] * tx.square()  # corner lift
    ou = t["smile_up"]
    ol = t["smile_lo"]
    lips = P.lips
    upper_in = base - ou * s2
    lower_in = base + ol * s2.pow(0.8)
    bow = 0.006 * lips * (-(tx / 0.18).square()).exp()  # cupid's bow dip
    upper_out = upper_in - (0.020 * lips * s2.sqrt() - bow) - 0.004 * s2
    lower_out = lower_in + 0.026 * lips * s2.sqrt()
    ax = r.x.abs()
    d_lips = torch.maximum(torch.maximum(upper_out - r.y, r.y - lower_out), ax - w)
    lip_col = _col(P.lip)
    shade = 0.88 + 0.18 * ((r.y - base) / (0.03 * lips)).clamp(-1.0, 1.0).clamp(min=0.0)  # lower lip lighter
    r.paint(lip_col * shade, r.cov(d_lips))
    # opening: dark interior, teeth, tongue
    opening = ou + ol
    open_a = (opening / 0.012).clamp(0.0, 1.0)
    d_open = torch.maximum(torch.maximum(upper_in - r.y, r.y - lower_in), ax - w * 0.96)
    a_open = r.cov(d_open) * open_a
    r.paint(_col(torch.tensor((0.30, 0.07, 0.08), device=P.skin.device).expand_as(P.skin)), a_open)
    gaps = 1.0 - 0.22 * (1.0 - (math.pi * r.x / 0.034).sin().abs()).pow(6)  # tooth separations
    teeth = torch.tensor((0.97, 0.96, 0.91), device=P.skin.device)[None, :, None, None] * (
        (1.0 - 0.35 * tx.square()) * gaps)
    th_u = 0.024 * (0.85 + 0.3 * t["age_head"])
    d_teeth = torch.maximum(d_open, r.y - (upper_in + th_u))
    r.paint(teeth, r.cov(d_teeth) * open_a)
    d_low = torch.maximum(d_open, (lower_in - 0.018) - r.y)
    d_low = torch.maximum(d_low, ax - w * 0.7)
    r.paint(teeth * 0.92, r.cov(d_low) * (open_a * t["smile_teeth_lo"]))
    d_tongue, _ = _ellipse(r.x, r.y - (P.vm + ol * 0.95), w * 0.5, 0.04 + 0.2 * ol)
    d_tongue = torch.maximum(d_tongue, d_open)
    r.paint(_col(torch.tensor((0.80, 0.32, 0.35), device=P.skin.device).expand_as(P.skin)),
            r.cov(d_tongue) * (open_a * t["smile_tongue"]))
    # the line between the lips and the corners
    d_line = torch.maximum((r.y - base).abs() - 0.005, ax - w * 1.03)
    r.paint(_col(P.lip * 0.45), r.cov(d_line) * 0.85)
    # dimples at the corners when smiling
    cx = ax - w * 1.04
    d_dim = torch.maximum((r.y - (base - 0.004) - 0.35 * cx).abs() - 0.004, cx.abs() - 0.016)
    r.paint(_col(P.skin * 0.6), r.cov(d_dim) * (0.55 * t["smile_cheek"]))


def _draw_nose(c: _Canvas, P: _Params) -> None:
    r = c.region(-0.1, 0.45, -0.25, 0.25)
    nw = P.nw
    ns = P.T["age_nose"] * P.scale
    # soft shadow under the tip and on the shaded side of the bridge
    d_tip, _ = _ellipse(r.x, r.y - (P.vn - 0.006), nw * 1.05, 0.034 * ns)
    lower = (r.y - (P.vn - 0.006)).clamp(min=0.0) / (0.034 * ns)
    r.paint(_col(P.skin * 0.62), r.cov(d_tip, 3.0) * (0.7 * lower.clamp(max=1.0)))
    side = -P.lx.sign() * (0.030 + 0.1 * nw)
    d_bridge = torch.maximum((r.x - side).abs() - 0.008, (r.y - (P.ve + P.vn) * 0.5).abs() - (P.vn - P.ve) * 0.42)
    r.paint(_col(P.skin * 0.72), r.cov(d_bridge, 3.0) * (0.25 + 0.4 * P.ls))
    # nostrils and wings
    d_nos, _ = _ellipse(r.x.abs() - nw * 0.46, r.y - (P.vn + 0.012 * ns), 0.017 * ns, 0.0085 * ns)
    r.paint(_col(P.skin * 0.35), r.cov(d_nos) * 0.8)
    d_wing = ((r.x.abs() - nw * 0.9).square() + (r.y - (P.vn - 0.002)).square()).sqrt() - 0.022 * ns
    d_wing = d_wing.abs() - 0.0045  # arcs around the nose wings
    d_wing = torch.maximum(d_wing, (P.vn - 0.006) - r.y)
    r.paint(_col(P.skin * 0.6), r.cov(d_wing) * 0.45)
    # highlight on the tip
    d_hl, _ = _ellipse(r.x + 0.25 * nw * P.lx.sign(), r.y - (P.vn - 0.03 * ns), 0.016, 0.011)
    r.paint(_col(torch.ones_like(P.skin)), r.cov(d_hl, 3.0) * 0.22)


def _draw_eyes(c: _Canvas, P: _Params) -> None:
    t = P.T
    r = c.region(-0.2, 0.2, -0.5, 0.5)
    sx = r.x - P.es * torch.sign(r.x)  # signed local x (both eyes share orientation)
    ex = r.x.abs() - P.es  # mirrored local x (positive = outer corner)
    ey = r.y - P.ve
    tx = (ex / P.ew).clamp(-1.0, 1.0)  # (B,1,1,w)
    s2 = 1.0 - tx.square()
    tilt = -0.012 * tx
    sq = t["smile_squint"]
    up_open = -P.eh * s2.pow(0.75) + tilt
    lo_open = 0.72 * P.eh * s2 + tilt
    closed = -0.5 * P.eh * s2 + tilt
    upper = closed + (up_open - closed) * (1.0 - sq).sqrt()
    lower = closed + (lo_open - closed) * (1.0 - sq)
    opening = ((1.0 - sq) * P.eh / 0.01).clamp(0.0, 1.0)
    d_eye = torch.maximum(torch.maximum(upper - ey, ey - lower), ex.abs() - P.ew)
    a_eye = r.cov(d_eye) * opening
    white = torch.tensor((0.97, 0.96, 0.95), device=P.skin.device)[None, :, None, None]
    r.paint(white * (0.82 + 0.18 * ((ey - upper) / (0.5 * P.eh)).clamp(0.0, 1.0)), a_eye)
    # iris, pupil, highlight (clipped to the opening)
    icy = P.ve + 0.12 * P.eh
    rr = (ex.square() + (r.y - icy).square()).sqrt()
    a_iris = r.cov(rr - P.ri) * a_eye
    iris = _col(P.iris) * (1.25 - 0.55 * (rr / P.ri).clamp(max=1.0))
    r.paint(iris, a_iris)
    r.paint(_col(torch.full_like(P.skin, 0.05)), r.cov(rr - 0.45 * P.ri) * a_eye)
    hx = sx + 0.35 * P.ri * (P.lx.sign() + (P.lx == 0).float())
    hr = (hx.square() + (r.y - (icy - 0.38 * P.ri)).square()).sqrt()
    r.paint(_col(torch.ones_like(P.skin)), r.cov(hr - 0.26 * P.ri) * a_eye * 0.95)
    # upper lash line (with a small wing at the outer corner), lower lid, crease
    lash = 0.0075 + 0.004 * (tx + 1.0) * 0.5 + 0.004 * sq
    d_lash = torch.maximum((ey - (upper - lash * 0.5)).abs() - lash * 0.65, ex.abs() - P.ew * 1.06)
    r.paint(_col(torch.full_like(P.skin, 0.09)), r.cov(d_lash))
    d_low = torch.maximum((ey - lower).abs() - 0.0035, ex.abs() - P.ew * 0.95)
    r.paint(_col(P.skin * 0.55), r.cov(d_low) * (0.45 * opening))
    crease = up_open - 0.018 - 0.004 * s2
    d_cr = torch.maximum((ey - crease).abs() - 0.0035, ex.abs() - P.ew * 0.8)
    r.paint(_col(P.skin * 0.62), r.cov(d_cr) * 0.45)


def _draw_brows(c: _Canvas, P: _Params) -> None:
    r = c.region(-0.38, 0.05, -0.5, 0.5)
    ex = r.x.abs() - P.es
    tb = (ex / P.bw).clamp(-1.0, 1.0)
    u = (tb - 0.35) / torch.where(tb < 0.35, 1.35, 0.65)  # peak two thirds out, both ends level
    yb = P.ve - P.bh - P.arch * (1.0 - u.square()) + 0.004
    th = P.bt * (1.0 - 0.35 * (tb + 1.0) * 0.5)
    d = torch.maximum((r.y - yb).abs() - th * 0.5, ex.abs() - P.bw)
    r.paint(_col(P.brow), r.cov(d))


def _hairline(P: _Params, x: Tensor) -> Tensor:
    """Lower edge of the front hair as a function of x: hairline and temples, lowered by the bangs."""
    ax = x.abs()
    drop = (P.ve + 0.035) - P.hl0
    s = ((ax - 0.42 * P.rx) / (0.58 * P.rx)).clamp(0.0, 1.0)
    hl = P.hl0 + drop * s.pow(1.6) + 0.015 * (x / P.rx).square()
    # bangs: a fringe whose length is a fraction of the forehead height, with pointed locks
    fh = (P.ve - P.bh) - P.hl0
    L = P.T["bangs_len"] * fh
    prof = (1.0 - (ax / (0.98 * P.rx)).pow(8)).clamp(min=0.0)
    locks = (math.pi * (x - 0.5 * P.wave) / 0.11).sin().abs()
    amp = L.clamp(max=0.09) * 0.4
    fr = P.hl0 + L * prof - amp * locks
    return torch.maximum(hl, fr)


def _draw_hair_front(c: _Canvas, P: _Params, d_hair: Tensor, strands: Tensor) -> None:
    r = c.region(-1.0, 0.3)  # starts at row 0 and spans all columns, like d_hair and strands
    d_outer = d_hair[:, :, : r.img.shape[2]]
    edge = _hairline(P, r.x)  # (B,1,1,w)
    d = torch.maximum(d_outer, r.y - edge)
    # shadow the hair casts on the forehead
    d_sh = torch.maximum(d_outer, r.y - (edge + 0.022))
    r.paint(_col(P.skin * 0.55), r.cov(d_sh, 4.0) * 0.35)
    # shading: lambert on the hair dome, strands and a sheen band
    hcy = P.cy - 0.13 * P.ry
    nx = r.x / (P.rx + P.vol)
    ny = (r.y - hcy) / (P.ry * 0.89 + P.vol)
    k2 = nx.square() + ny.square()
    nz = (1.0 - k2).clamp_(min=0.0).sqrt_()
    shade = 1.0 + 0.8 * P.ls * (nx * P.lx - 0.35 * ny + nz * 0.85 - 0.85)
    sheen = 0.13 * (1.0 - (k2.sqrt() - 0.72).abs_() * 9.0).clamp_(min=0.0)
    shade = shade + sheen + 0.018 * strands[:, :, : r.img.shape[2]]
    # separations between the locks of the fringe
    L = (P.T["bangs_len"] * ((P.ve - P.bh) - P.hl0) / 0.03).clamp(max=1.0)
    gap = (math.pi * (r.x - 0.5 * P.wave) / 0.11).sin().abs().pow(12) * (0.10 * L)  # (B,1,1,w)
    shade = shade - gap * (1.0 - (edge - r.y) / 0.07).clamp_(0.0, 1.0)  # only near the lock tips
    r.paint(_col(P.hair) * shade, r.cov(d))


def _draw_glasses(c: _Canvas, P: _Params) -> None:
    t = P.T
    r = c.region(-0.3, 0.2)
    on = t["glass_on"]
    ex = r.x.abs() - P.es
    sx = r.x - P.es * torch.sign(r.x)
    ey = r.y - (P.ve + 0.008)
    sc = t["lens_scale"]
    lw = (P.es * 0.80).clamp(max=0.15) * sc
    lh = 0.078 * P.scale * sc
    rad = 0.045 * sc
    qx = ex.abs() - (lw - rad)
    qy = ey.abs() - (lh - rad) + 0.012 * (ey > 0).float() * (ex.abs() / lw)
    d_lens = (qx.clamp(min=0.0).square() + qy.clamp(min=0.0).square()).sqrt() + torch.maximum(qx, qy).clamp(
        max=0.0) - rad
    # tinted lenses
    a_lens = r.cov(d_lens)
    lens_col = torch.tensor((0.06, 0.07, 0.08), device=P.skin.device)[None, :, None, None]
    r.paint(lens_col * (1.0 + 0.5 * (ey / lh).clamp(0.0, 1.0)), a_lens * t["lens_a"])
    # glare streak
    gs = sx + 0.8 * ey + 0.018
    d_gl = torch.maximum(gs.abs() - 0.010, d_lens + 0.008)
    r.paint(_col(torch.ones_like(P.skin)), r.cov(d_gl, 1.5) * t["glare_a"])
    # frame (ring), bridge and temples
    fw = t["frame_w"]
    frame = _col(_lerp(torch.full_like(P.skin, 0.70), (0.06, 0.05, 0.05), t["frame_dark"].flatten()))
    d_ring = (d_lens + fw * 0.5 - 0.004).abs() - fw * 0.5
    bx = (P.es - lw) + 0.02
    by = P.ve - 0.022 - 0.008 * (1.0 - (r.x / bx).clamp(-1.0, 1.0).square())
    bw = (fw * 0.8).clamp(min=0.008)
    d_bridge = torch.maximum((r.y - by).abs() - bw * 0.5, r.x.abs() - bx)
    ty = P.ve - 0.035
    d_temple = torch.maximum((r.y - ty).abs() - bw * 0.5,
                             torch.maximum(P.es + lw - 0.01 - r.x.abs(), r.x.abs() - (P.rx + 0.004)))
    d_frame = torch.minimum(torch.minimum(d_ring, d_bridge), d_temple)
    r.paint(frame, r.cov(d_frame) * (t["frame_a"] * on))


def _render(identity: Tensor, degrees: Tensor, size: int) -> Tensor:
    B = identity.shape[0]
    device = identity.device
    P = _Params(identity.float(), degrees.float())
    c = _Canvas(B, size, device)
    _draw_background(c, P)
    full = c.region()
    d_hair = _hair_outer(P, full.x, full.y)  # (B,1,S,S)
    strands = _strands(P, full.x, full.y, 30.0)  # (B,1,S,S)
    _draw_hair_back(c, P, d_hair, strands)
    _draw_neck_and_clothes(c, P)
    _draw_ears(c, P)
    _draw_face(c, P)
    _draw_cheeks(c, P)
    _draw_wrinkles(c, P)
    _draw_beard(c, P)
    _draw_mouth(c, P)
    _draw_nose(c, P)
    _draw_eyes(c, P)
    _draw_brows(c, P)
    _draw_hair_front(c, P, d_hair, strands)
    _draw_glasses(c, P)
    return c.img.clamp_(0.0, 1.0).mul_(2.0).sub_(1.0)


# --------------------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------------------
def render(identity: Tensor, degrees: Tensor, size: int = 128) -> Tensor:
    """Render faces.

    Input
    -----
    identity : (B, D) float, normalised identities in [-1, 1] (values outside are clamped)
    degrees : (B, 5) float, attribute degrees in [0, 5] in the order of ``ATTRIBUTES``; fractional allowed
    size : output side length in pixels (>= 16)

    Output
    ------
    (B, 3, size, size) float32 RGB in [-1, 1], on ``identity``'s device. Deterministic.
    """
    identity = _check_identity(identity)
    degrees = _check_degrees(degrees.to(identity.device), identity.shape[0])
    if int(size) != size or size < 16:
        raise InvalidArgumentError(f"size must be an integer >= 16, got {size}")
    if identity.shape[0] == 0:
        return torch.empty(0, 3, size, size, device=identity.device)
    with torch.no_grad():
        return _render(identity, degrees, int(size))


@dataclass
class SynthFace:
    """The SynthFace world at a fixed resolution.

    Parameters
    ----------
    size : image side in pixels (default 128)
    chunk : faces rendered at once by :meth:`render_batch` (bounds memory: ~60 MB per 64 faces at 128 px)
    device : where to render (``None``: where the inputs live)
    """

    size: int = 128
    chunk: int = 64
    device: torch.device | str | None = None
    attributes: tuple[str, ...] = field(default=ATTRIBUTES, init=False)

    def render(self, identity: Tensor, degrees: Tensor) -> Tensor:
        if self.device is not None:
            identity = identity.to(self.device)
            degrees = degrees.to(self.device)
        return render(identity, degrees, self.size)

    def render_batch(self, identity: Tensor, degrees: Tensor) -> Tensor:
        """Render any number of faces in chunks of ``chunk``; same result as :meth:`render`."""
        identity = _check_identity(identity)
        if degrees.shape[0] != identity.shape[0]:
            raise InvalidArgumentError(
                f"identity and degrees disagree on the batch size ({identity.shape[0]} vs {degrees.shape[0]})")
        outs = [self.render(identity[i : i + self.chunk], degrees[i : i + self.chunk])
                for i in range(0, identity.shape[0], self.chunk)]
        if not outs:
            return render(identity, degrees, self.size)
        return torch.cat(outs)

    def sample(self, n: int, generator: torch.Generator | None = None, fractional: bool = False
               ) -> tuple[Tensor, Tensor, Tensor]:
        """Sample identities and degrees and render them: (images, identity, degrees)."""
        ident = sample_identity(n, generator, self.device)
        deg = sample_degrees(n, generator, self.device, fractional=fractional)
        return self.render_batch(ident, deg), ident, deg
