"""Contact sheets of the SynthFace world: attributes x degrees for a few identities, and grids of faces."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor

from shared.errors import InvalidArgumentError

from .synthface import ATTRIBUTES, DEGREE_NAMES, IDENTITY_DIMS, NUM_DEGREES, render

_LABEL_W = 92  # left column with the row labels
_HEAD_H = 16  # header row with the degree numbers
_CAPTION_H = 12  # caption under each face
_BG = (250, 250, 250)
_INK = (20, 20, 20)


def to_pil(images: Tensor) -> list[Image.Image]:
    """(B, 3, H, W) in [-1, 1] -> list of RGB PIL images (quantised to 8 bits)."""
    x = ((images.detach().float().cpu().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
    return [Image.fromarray(a.permute(1, 2, 0).numpy(), "RGB") for a in x]


def contact_sheet(
    identities: Tensor,
    size: int = 128,
    attributes: Sequence[str] = ATTRIBUTES,
    base_degrees: Tensor | Sequence[float] | None = None,
    captions: bool = True,
) -> Image.Image:
    """Lay out every attribute at degrees 0..5 for several identities.

    Parameters
    ----------
    identities : (N, D) normalised identities (see :func:`edsc.world.synthface.sample_identity`)
    size : face size in pixels
    attributes : which attribute rows to draw, in this order
    base_degrees : (5,) degrees of the attributes a row does not vary (default: all 0)
    captions : write the degree name under each face

    Output
    ------
    A PIL image: one row per (identity, attribute), six columns (degrees 0..5) with text labels.
    """
    if identities.dim() != 2 or identities.shape[1] != len(IDENTITY_DIMS):
        raise InvalidArgumentError(
            f"identities must have shape (N, {len(IDENTITY_DIMS)}), got {tuple(identities.shape)}")
    unknown = [a for a in attributes if a not in ATTRIBUTES]
    if unknown:
        raise InvalidArgumentError(f"unknown attribute(s) {unknown}; known: {', '.join(ATTRIBUTES)}")
    n = identities.shape[0]
    base = torch.zeros(len(ATTRIBUTES)) if base_degrees is None else torch.as_tensor(base_degrees, dtype=torch.float32)
    ident_rows, deg_rows = [], []
    for i in range(n):
        for a in attributes:
            k = ATTRIBUTES.index(a)
            d = base.repeat(NUM_DEGREES, 1)
            d[:, k] = torch.arange(NUM_DEGREES, dtype=torch.float32)
            deg_rows.append(d)
            ident_rows.append(identities[i : i + 1].cpu().float().expand(NUM_DEGREES, -1))
    faces = to_pil(render(torch.cat(ident_rows), torch.cat(deg_rows), size=size))

    cap = _CAPTION_H if captions else 0
    cell_h = size + cap
    rows = n * len(attributes)
    sheet = Image.new("RGB", (_LABEL_W + NUM_DEGREES * size, _HEAD_H + rows * cell_h), _BG)
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for j in range(NUM_DEGREES):
        draw.text((_LABEL_W + j * size + size // 2 - 3, 2), str(j), fill=_INK, font=font)
    for r in range(rows):
        i, a = divmod(r, len(attributes))
        attr = attributes[a]
        y = _HEAD_H + r * cell_h
        draw.text((4, y + size // 2 - 12), f"identity {i}", fill=_INK, font=font)
        draw.text((4, y + size // 2 + 2), attr, fill=_INK, font=font)
        for j in range(NUM_DEGREES):
            sheet.paste(faces[r * NUM_DEGREES + j], (_LABEL_W + j * size, y))
            if captions:
                draw.text((_LABEL_W + j * size + 3, y + size), DEGREE_NAMES[attr][j], fill=_INK, font=font)
        if a == len(attributes) - 1 and i < n - 1:
            draw.line((0, y + cell_h - 1, sheet.width, y + cell_h - 1), fill=(150, 150, 150))
    return sheet


def face_grid(images: Tensor, columns: int = 4, captions: Sequence[str] | None = None) -> Image.Image:
    """Tile (B, 3, H, W) images in [-1, 1] into a grid, optionally with a caption under each."""
    faces = to_pil(images)
    if not faces:
        raise InvalidArgumentError("no images to lay out")
    h, w = faces[0].height, faces[0].width
    cap = _CAPTION_H if captions is not None else 0
    rows = (len(faces) + columns - 1) // columns
    grid = Image.new("RGB", (columns * w, rows * (h + cap)), _BG)
    draw = ImageDraw.Draw(grid)
    font = ImageFont.load_default()
    for k, f in enumerate(faces):
        r, c = divmod(k, columns)
        grid.paste(f, (c * w, r * (h + cap)))
        if captions is not None:
            draw.text((c * w + 2, r * (h + cap) + h), captions[k], fill=_INK, font=font)
    return grid


def degree_caption(degrees: Tensor) -> str:
    """Short caption such as ``B2 G0 Bd5 S1 A3`` for one (5,) degree vector."""
    tags = ("B", "G", "Bd", "S", "A")
    return " ".join(f"{t}{float(v):g}" for t, v in zip(tags, degrees.tolist()))


def random_grid(n: int = 16, seed: int = 0, size: int = 128, columns: int = 4, fractional: bool = False) -> Image.Image:
    """``n`` random identities with random degrees, captioned ``B<bangs> G<glasses> Bd<beard> S<smile> A<age>``."""
    from .synthface import sample_degrees, sample_identity

    gen = torch.Generator().manual_seed(seed)
    ident = sample_identity(n, gen)
    deg = sample_degrees(n, gen, fractional=fractional)
    return face_grid(render(ident, deg, size=size), columns, [degree_caption(d) for d in deg])
