"""An *artwork* domain of SynthFace: the same faces painted, for out-of-distribution tests (the paper's MetFaces).

The paper tests a generator trained on natural photographs on MetFaces, faces taken from artworks. Our analogue
keeps SynthFace's exact ground truth and moves the images away from the renders the generator was trained on:
each face goes through a deterministic, seeded *painting* transform whose parameters are drawn per image.

Stages, in order (every parameter drawn per image from a generator seeded by the namespace, the seed and the
image's index; lengths scale with the image side, so a face looks alike at every resolution):

1. **Painterly abstraction**: a Kuwahara filter (each pixel takes the mean colour of the least varied of its four
   neighbouring quadrants), which flattens shading into patches while keeping edges.
2. **Brush strokes**: the image is displaced along a smooth random field (wobbly contours), and its brightness is
   modulated by a stroke texture: noise smeared along one stroke direction per image.
3. **Palette and tone**: the colours are pulled towards a pigment palette (a gradient map of the luminance over
   three pigment stops: umber/ochre/cream, sienna, verdigris, indigo, ...), then a tone curve (gamma, contrast).
4. **Canvas grain**: a woven canvas texture (two crossed threads) and fine grain.
5. **Varnish**: an aged, yellowed varnish layer, a vignette and craquelure (a network of thin dark cracks).

The transform keeps the face's geometry, so the identity and the attribute degrees (the ground truth) stay those
of the render, and the ideally edited face of an artwork is the same transform (same style) applied to the render
of the edited face: :func:`paint` with the same ``seed`` and ``indices``.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from shared.errors import InvalidArgumentError

__all__ = ["PALETTES", "ArtStyle", "draw_styles", "paint", "artwork_sheet", "STAGES"]

#: Pigment palettes: (dark, middle, light) stops of the luminance gradient map, RGB in [0, 1].
PALETTES: dict[str, tuple[tuple[float, float, float], ...]] = {
    "umber-ochre": ((0.17, 0.10, 0.06), (0.62, 0.45, 0.22), (0.95, 0.88, 0.70)),
    "sienna": ((0.22, 0.08, 0.05), (0.70, 0.36, 0.20), (0.98, 0.83, 0.66)),
    "verdigris": ((0.07, 0.14, 0.12), (0.33, 0.53, 0.45), (0.88, 0.92, 0.80)),
    "indigo": ((0.06, 0.07, 0.20), (0.36, 0.40, 0.62), (0.90, 0.88, 0.95)),
    "rose-madder": ((0.20, 0.06, 0.10), (0.72, 0.38, 0.42), (0.99, 0.87, 0.84)),
    "grisaille": ((0.10, 0.10, 0.11), (0.50, 0.49, 0.47), (0.93, 0.92, 0.88)),
}

#: The stages of :func:`paint`, in order (``stages=`` may stop after any of them).
STAGES = ("abstraction", "strokes", "palette", "canvas", "varnish")


@dataclass
class ArtStyle:
    """Per-image parameters of the painting transform (every tensor has the batch as its first dimension).

    radius : Kuwahara radius in pixels at 128 px.
    warp : displacement amplitude of the contours (pixels at 128 px); warp_seed: the field's seed.
    stroke_angle : stroke direction (radians); stroke_len : stroke length (pixels at 128 px); stroke_gain :
    brightness modulation of the strokes.
    palette : index into :data:`PALETTES`; palette_mix : how far colours move towards it (0..1).
    gamma, contrast : the tone curve.
    canvas_period : thread period (pixels at 128 px); canvas_gain : weave depth; grain : fine grain.
    varnish : yellowing (0..1); vignette : edge darkening; cracks : craquelure darkness; crack_cells : cells across
    the image.
    seeds : one integer per image for the textures.
    """

    radius: Tensor
    warp: Tensor
    stroke_angle: Tensor
    stroke_len: Tensor
    stroke_gain: Tensor
    palette: Tensor
    palette_mix: Tensor
    gamma: Tensor
    contrast: Tensor
    canvas_period: Tensor
    canvas_gain: Tensor
    grain: Tensor
    varnish: Tensor
    vignette: Tensor
    cracks: Tensor
    crack_cells: Tensor
    seeds: list[int]


def _seed(*parts) -> int:
    """A 63-bit seed from a namespace path (sha256), stable across processes and platforms."""
    text = "/".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big") >> 1


def draw_styles(indices, seed: int = 0, strength: float = 1.0, namespace: str = "artwork") -> ArtStyle:
    """The style of each image: image ``i`` draws from a generator seeded by ``(namespace, seed, i)``, so a face
    keeps its style whatever batch it is painted in.

    indices : image indices (ints); strength : scales every effect (0 leaves the render unchanged apart from the
    abstraction radius 0, 1 is the domain used by ``edsc eval``).
    """
    if not 0.0 <= strength <= 2.0:
        raise InvalidArgumentError(f"strength must lie in [0, 2], got {strength}")
    rows = []
    seeds = []
    for i in indices:
        g = torch.Generator().manual_seed(_seed(namespace, seed, int(i)))
        u = torch.rand(15, generator=g).tolist()
        rows.append(u)
        seeds.append(int(torch.randint(0, 2 ** 31 - 1, (1,), generator=g)))
    u = torch.tensor(rows, dtype=torch.float32).reshape(len(rows), 15)

    def lin(col: int, lo: float, hi: float) -> Tensor:
        return lo + u[:, col] * (hi - lo)

    s = float(strength)
    return ArtStyle(
        radius=torch.round(lin(0, 1.6, 2.6) * s),
        warp=lin(1, 0.8, 1.8) * s,
        stroke_angle=lin(2, 0.0, math.pi),
        stroke_len=lin(3, 5.0, 11.0),
        stroke_gain=lin(4, 0.06, 0.14) * s,
        palette=(u[:, 5] * len(PALETTES)).long().clamp(max=len(PALETTES) - 1),
        palette_mix=(lin(6, 0.35, 0.70) * s).clamp(0, 1),
        gamma=1.0 + (lin(7, 0.85, 1.25) - 1.0) * s,
        contrast=1.0 + (lin(8, 0.80, 1.25) - 1.0) * s,
        canvas_period=lin(9, 2.6, 4.0),
        canvas_gain=lin(10, 0.05, 0.11) * s,
        grain=lin(11, 0.02, 0.05) * s,
        varnish=(lin(12, 0.25, 0.60) * s).clamp(0, 1),
        vignette=lin(13, 0.15, 0.40) * s,
        cracks=lin(14, 0.15, 0.40) * s,
        crack_cells=torch.full((len(rows),), 9.0),
        seeds=seeds,
    )


# ----------------------------------------------------------------------------------------------------------------
# Stages (images (B, 3, H, W) in [0, 1])
# ----------------------------------------------------------------------------------------------------------------

def _luma(x: Tensor) -> Tensor:
    return (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3])


def _kuwahara(x: Tensor, radius: int) -> Tensor:
    """Kuwahara filter with square quadrants of side radius + 1 (one radius for the whole batch)."""
    if radius < 1:
        return x
    k = radius + 1
    pad = F.pad(x, (radius, radius, radius, radius), mode="replicate")
    mean = F.avg_pool2d(pad, k, stride=1)                                   # (B, 3, H+r, W+r)
    lum = _luma(pad)
    var = F.avg_pool2d(lum * lum, k, stride=1) - F.avg_pool2d(lum, k, stride=1) ** 2
    h, w = x.shape[-2:]
    # quadrant (dy, dx) of pixel (i, j) starts at (i + dy, j + dx) in the padded pooled maps
    offsets = [(0, 0), (0, radius), (radius, 0), (radius, radius)]
    means = torch.stack([mean[..., dy:dy + h, dx:dx + w] for dy, dx in offsets])        # (4, B, 3, H, W)
    vars_ = torch.stack([var[..., dy:dy + h, dx:dx + w] for dy, dx in offsets])         # (4, B, 1, H, W)
    pick = vars_.argmin(0, keepdim=True).expand(1, *means.shape[1:])
    return means.gather(0, pick)[0]


def _smooth_noise(shape: tuple[int, int, int, int], cells: int, seeds: list[int], device) -> Tensor:
    """Per-image smooth noise (B, C, H, W) in about [−1, 1]: uniform noise on a ``cells``² grid, upsampled
    (bicubic)."""
    b, c, h, w = shape
    out = []
    for s in seeds:
        g = torch.Generator().manual_seed(s)
        out.append(torch.rand(c, cells, cells, generator=g) * 2 - 1)
    low = torch.stack(out).to(device)
    return F.interpolate(low, size=(h, w), mode="bicubic", align_corners=False)


def _pixel_noise(shape: tuple[int, int, int, int], seeds: list[int], device, salt: int) -> Tensor:
    b, c, h, w = shape
    out = []
    for s in seeds:
        g = torch.Generator().manual_seed(s + salt)
        out.append(torch.rand(c, h, w, generator=g))
    return torch.stack(out).to(device)


def _line_kernels(angle: Tensor, length: Tensor, size: int) -> Tensor:
    """One normalised line kernel per image (B, 1, size, size): a thin segment at ``angle``, ``length`` long."""
    r = size // 2
    yy, xx = torch.meshgrid(torch.arange(-r, r + 1.0), torch.arange(-r, r + 1.0), indexing="ij")
    c, s = torch.cos(angle)[:, None, None], torch.sin(angle)[:, None, None]
    along = xx[None] * c + yy[None] * s
    across = -xx[None] * s + yy[None] * c
    k = torch.clamp(1.0 - across.abs(), min=0) * (along.abs() <= length[:, None, None] / 2).float()
    return (k / k.sum((1, 2), keepdim=True).clamp(min=1e-6))[:, None]


def _strokes(x: Tensor, st: ArtStyle, scale: float) -> Tensor:
    b, _, h, w = x.shape
    dev = x.device
    # wobbly contours: displace along a smooth field
    field = _smooth_noise((b, 2, h, w), 12, st.seeds, dev)                              # (B, 2, H, W)
    amp = (st.warp.to(dev) * scale * 2.0 / w)[:, None, None, None]
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, h, device=dev), torch.linspace(-1, 1, w, device=dev),
                            indexing="ij")
    grid = torch.stack([xs, ys], -1)[None] + (field * amp).permute(0, 2, 3, 1)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=True)
    # stroke texture: pixel noise smeared along the stroke direction (grouped convolution, one kernel per image)
    length = st.stroke_len * scale
    size = int(2 * math.ceil(float(length.max()) / 2) + 1)
    kernels = _line_kernels(st.stroke_angle, length, size).to(dev)                      # (B, 1, k, k)
    noise = _pixel_noise((b, 1, h, w), st.seeds, dev, salt=1)
    smeared = F.conv2d(F.pad(noise, (size // 2,) * 4, mode="reflect").reshape(1, b, h + size - 1, w + size - 1),
                       kernels, groups=b).reshape(b, 1, h, w)
    smeared = (smeared - smeared.mean((2, 3), keepdim=True)) / smeared.std((2, 3), keepdim=True).clamp(min=1e-6)
    return x * (1.0 + st.stroke_gain.to(dev)[:, None, None, None] * smeared.clamp(-2.5, 2.5) * 0.5)


def _palette(x: Tensor, st: ArtStyle) -> Tensor:
    dev = x.device
    stops = torch.tensor(list(PALETTES.values()), dtype=torch.float32, device=dev)[st.palette.to(dev)]  # (B, 3, 3)
    lum = _luma(x).clamp(0, 1)                                                           # (B, 1, H, W)
    lo, mid, hi = (stops[:, i][:, :, None, None] for i in range(3))
    t = lum * 2
    mapped = torch.where(t < 1, lo + (mid - lo) * t, mid + (hi - mid) * (t - 1))
    mix = st.palette_mix.to(dev)[:, None, None, None]
    y = x * (1 - mix) + mapped * mix
    y = y.clamp(0, 1) ** st.gamma.to(dev)[:, None, None, None]
    c = st.contrast.to(dev)[:, None, None, None]
    return (y - 0.5) * c + 0.5


def _canvas(x: Tensor, st: ArtStyle, scale: float) -> Tensor:
    b, _, h, w = x.shape
    dev = x.device
    yy, xx = torch.meshgrid(torch.arange(h, device=dev, dtype=torch.float32),
                            torch.arange(w, device=dev, dtype=torch.float32), indexing="ij")
    period = (st.canvas_period.to(dev) * scale)[:, None, None, None]
    weave = torch.sin(2 * math.pi * xx / period) * torch.sin(2 * math.pi * yy / period)    # (B, 1, H, W)
    warp_thread = torch.sin(2 * math.pi * yy / period) ** 2
    tex = 0.6 * weave + 0.4 * (warp_thread - 0.5)
    grain = _pixel_noise((b, 1, h, w), st.seeds, dev, salt=2) * 2 - 1
    return x * (1 - st.canvas_gain.to(dev)[:, None, None, None] * tex) \
        + st.grain.to(dev)[:, None, None, None] * grain


def _varnish(x: Tensor, st: ArtStyle) -> Tensor:
    b, _, h, w = x.shape
    dev = x.device
    yellow = torch.tensor([1.0, 0.90, 0.66], device=dev)[None, :, None, None]
    v = st.varnish.to(dev)[:, None, None, None]
    x = x * (1 - v + v * yellow)
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, h, device=dev), torch.linspace(-1, 1, w, device=dev),
                            indexing="ij")
    r2 = (xs ** 2 + ys ** 2)[None, None]
    x = x * (1 - st.vignette.to(dev)[:, None, None, None] * (r2 / 2) ** 1.5)
    # craquelure: thin lines where a smooth random field crosses the levels of a fine lattice
    field = _smooth_noise((b, 1, h, w), int(st.crack_cells[0]), [s + 3 for s in st.seeds], dev)
    bands = field * 6.0
    line = torch.clamp(1.0 - (bands - torch.round(bands)).abs() / (0.06 * (128 / w) ** 0.5 + 1e-6) * 0.5, 0, 1)
    return x * (1 - st.cracks.to(dev)[:, None, None, None] * line)


def paint(images: Tensor, seed: int = 0, indices=None, strength: float = 1.0, stages: int = len(STAGES),
          style: ArtStyle | None = None) -> Tensor:
    """Paint ``images`` (B, 3, H, W) in [−1, 1]: the artwork domain.

    seed, indices : image ``k`` gets the style of index ``indices[k]`` (default 0..B−1) under ``seed``.
    strength : scales every effect (see :func:`draw_styles`).
    stages : how many of :data:`STAGES` to apply (for illustrations).
    style : explicit styles (overrides seed / indices / strength).

    Output: (B, 3, H, W) in [−1, 1], deterministic for given inputs.
    """
    if images.dim() != 4 or images.shape[1] != 3:
        raise InvalidArgumentError(f"paint needs (B, 3, H, W) images, got {tuple(images.shape)}")
    if not 0 <= stages <= len(STAGES):
        raise InvalidArgumentError(f"stages must lie in [0, {len(STAGES)}], got {stages}")
    b, _, h, w = images.shape
    idx = list(range(b)) if indices is None else [int(i) for i in indices]
    if len(idx) != b:
        raise InvalidArgumentError(f"{len(idx)} indices for {b} images")
    st = style if style is not None else draw_styles(idx, seed, strength)
    scale = w / 128.0
    x = ((images.float().clamp(-1, 1) + 1) / 2)
    if stages >= 1:
        # one radius per image: filter with each image's own radius
        x = torch.cat([_kuwahara(x[i:i + 1], int(round(float(st.radius[i]) * scale))) for i in range(b)])
    if stages >= 2:
        x = _strokes(x, st, scale)
    if stages >= 3:
        x = _palette(x, st)
    if stages >= 4:
        x = _canvas(x, st, scale)
    if stages >= 5:
        x = _varnish(x, st)
    return (x.clamp(0, 1) * 2 - 1).to(images.dtype)


def artwork_sheet(identities: Tensor, degrees: Tensor, size: int = 128, styles: int = 5, seed: int = 0):
    """A contact sheet of the artwork domain (PIL image).

    Rows: one per identity: the SynthFace render, then the same face in ``styles`` painting styles. A last row
    builds one painting up stage by stage (render, then after each of :data:`STAGES`).
    identities : (N, D); degrees : (N, 5).
    """
    from PIL import Image, ImageDraw, ImageFont

    from edsc.world.sheet import face_grid
    from edsc.world.synthface import render

    n = identities.shape[0]
    faces = render(identities.float(), degrees.float(), size)                            # (N, 3, S, S)
    tiles, captions = [], []
    for i in range(n):
        tiles.append(faces[i:i + 1])
        captions.append("render")
        batch = faces[i:i + 1].expand(styles, -1, -1, -1)
        painted = paint(batch, seed=seed, indices=[i * styles + k for k in range(styles)])
        tiles.append(painted)
        st = draw_styles([i * styles + k for k in range(styles)], seed)
        names = list(PALETTES)
        captions += [names[int(p)] for p in st.palette]
    build = [faces[:1]] + [paint(faces[:1], seed=seed, indices=[0], stages=k) for k in range(1, len(STAGES) + 1)]
    tiles += build
    captions += ["render"] + [f"+{s}" for s in STAGES]
    grid = face_grid(torch.cat(tiles), columns=styles + 1, captions=captions)
    title_h = 16
    sheet = Image.new("RGB", (grid.width, grid.height + title_h), (250, 250, 250))
    sheet.paste(grid, (0, title_h))
    ImageDraw.Draw(sheet).text((4, 2), "SynthFace artwork domain: render, then painted styles; last row: the "
                               "stages one by one", fill=(20, 20, 20), font=ImageFont.load_default())
    return sheet
