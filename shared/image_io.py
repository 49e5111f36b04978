"""Image I/O both ends use: decoding uploads with clear errors, tensor conversion, PNG encoding.

Limits on an uploaded image (checked from the header, before any pixel is decoded):

- at most ``MAX_IMAGE_BYTES`` (10 MiB) of encoded data;
- PNG or JPEG (other formats are refused), any mode (converted to RGB; alpha is composited on white);
- each side at least ``MIN_SIDE`` (32) pixels and at most ``MAX_SIDE`` (8192) pixels, at most ``MAX_PIXELS``
  (40 M) pixels in all.

Decoding runs in bounded memory: when the model's resolution is known, a JPEG is decoded directly at a reduced
scale (DCT scaling, never below twice that resolution) and a large PNG is box-reduced right after decoding; the
pixels being decoded at once, over all threads, are bounded by :data:`DECODE_BUDGET`.

A non-square image is centre-cropped to a square, then resized (bicubic, antialiased) to the model's resolution.
Tensors are (B, 3, H, W) float32 in [−1, 1], the StyleGAN convention.
"""

from __future__ import annotations

import io
import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from shared.atomic_io import write_bytes_atomic
from shared.errors import InvalidArgumentError, ResourceExhaustedError

MAX_IMAGE_BYTES = 10 * 1024 * 1024
MIN_SIDE = 32
MAX_SIDE = 8192
MAX_PIXELS = 40_000_000
FORMATS = ("PNG", "JPEG")


class PixelBudget:
    """A counting semaphore over decoded pixels: :meth:`reserve` waits until ``pixels`` fit under ``capacity``
    (at most ``wait_s``; then :class:`ResourceExhaustedError`)."""

    def __init__(self, capacity: int, wait_s: float = 30.0):
        self.capacity = capacity
        self.wait_s = wait_s
        self.used = 0
        self._cond = threading.Condition()

    @contextmanager
    def reserve(self, pixels: int):
        pixels = min(int(pixels), self.capacity)
        deadline = time.monotonic() + self.wait_s
        with self._cond:
            while self.used + pixels > self.capacity:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ResourceExhaustedError("too many large images are being decoded; retry later")
                self._cond.wait(left)
            self.used += pixels
        try:
            yield
        finally:
            with self._cond:
                self.used -= pixels
                self._cond.notify_all()


#: Pixels decoded at once in this process (two of the largest images accepted).
DECODE_BUDGET = PixelBudget(2 * MAX_PIXELS)


def decode_image(data: bytes, name: str = "image", target: int | None = None) -> Image.Image:
    """Decode encoded image bytes into an RGB PIL image, validating size limits.

    Parameters
    ----------
    data : the encoded PNG or JPEG.
    name : how messages name it.
    target : the side the image will be resized to, when known: a large image is then decoded or reduced to a
        size of at least twice ``target`` per side (bounded memory), keeping its aspect ratio.

    Raises :class:`InvalidArgumentError` naming the problem (empty, too large, not PNG/JPEG, truncated,
    too small, too many pixels), :class:`ResourceExhaustedError` when the decoding budget stays full.
    """
    if not data:
        raise InvalidArgumentError(f"{name} is empty (0 bytes)")
    if len(data) > MAX_IMAGE_BYTES:
        raise InvalidArgumentError(f"{name} is {len(data)} bytes; the limit is {MAX_IMAGE_BYTES} bytes (10 MiB)")
    try:
        img = Image.open(io.BytesIO(data), formats=FORMATS)
        width, height = img.size
    except Image.DecompressionBombError:   # Pillow refuses to even open > ~179 M pixels
        raise InvalidArgumentError(
            f"{name} has too many pixels; the limits are {MAX_SIDE} px per side and {MAX_PIXELS} pixels"
        ) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise InvalidArgumentError(f"{name} is not a readable image (PNG or JPEG expected)") from None
    if min(width, height) < MIN_SIDE:
        raise InvalidArgumentError(f"{name} is {width}x{height} px; each side must be at least {MIN_SIDE} px")
    if max(width, height) > MAX_SIDE or width * height > MAX_PIXELS:
        raise InvalidArgumentError(
            f"{name} is {width}x{height} px; the limits are {MAX_SIDE} px per side and {MAX_PIXELS} pixels"
        )
    keep = 2 * target if target else None
    if keep and img.format == "JPEG" and min(width, height) > keep:
        scale = min(width, height) / keep
        img.draft("RGB", (max(keep, int(width / scale)), max(keep, int(height / scale))))
    try:
        with DECODE_BUDGET.reserve(img.size[0] * img.size[1]):
            img.load()
            if keep and min(img.size) >= 2 * keep:                 # a large PNG: box-reduce right away
                img = img.reduce(min(img.size) // keep)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        raise InvalidArgumentError(f"{name} could not be decoded (truncated or corrupt?)") from None
    if img.mode in ("RGBA", "LA", "P", "PA"):
        img = img.convert("RGBA")
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, img)
    return img.convert("RGB")


def read_image_file(path: str | os.PathLike, target: int | None = None) -> Image.Image:
    """Read and validate an image file (errors name the path)."""
    path = Path(path)
    if not path.is_file():
        raise InvalidArgumentError(f"image file {str(path)!r} does not exist")
    if path.stat().st_size > MAX_IMAGE_BYTES:
        raise InvalidArgumentError(f"image {str(path)!r} is {path.stat().st_size} bytes; the limit is "
                                   f"{MAX_IMAGE_BYTES} bytes (10 MiB)")
    return decode_image(path.read_bytes(), name=f"image {str(path)!r}", target=target)


def center_square(img: Image.Image) -> Image.Image:
    """Centre-crop to the largest square."""
    width, height = img.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return img.crop((left, top, left + side, top + side))


def pil_to_tensor(img: Image.Image, size: int | None = None) -> torch.Tensor:
    """PIL RGB image → (1, 3, size, size) float32 in [−1, 1] (centre-cropped and resized when ``size`` is given)."""
    if size is not None:
        img = center_square(img)
        if img.size != (size, size):
            img = img.resize((size, size), Image.Resampling.BICUBIC, reducing_gap=None)
    arr = np.asarray(img.convert("RGB"), dtype=np.float32) / 127.5 - 1.0  # (H, W, 3)
    return torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0).contiguous()


def load_image_tensor(source: bytes | str | os.PathLike, size: int) -> torch.Tensor:
    """Bytes or a file path → validated (1, 3, size, size) tensor in [−1, 1]."""
    if isinstance(source, (bytes, bytearray)):
        img = decode_image(bytes(source), target=size)
    else:
        img = read_image_file(source, target=size)
    return pil_to_tensor(img, size)


def tensor_to_pil(x: torch.Tensor) -> Image.Image:
    """(3, H, W) or (1, 3, H, W) tensor in [−1, 1] → PIL RGB image (clamped, rounded)."""
    if x.dim() == 4:
        if x.shape[0] != 1:
            raise InvalidArgumentError(f"tensor_to_pil takes one image, got a batch of {x.shape[0]}")
        x = x[0]
    arr = ((x.detach().float().cpu().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
    return Image.fromarray(arr.permute(1, 2, 0).numpy(), mode="RGB")


def encode_png(x: torch.Tensor | Image.Image) -> bytes:
    """A tensor in [−1, 1] or a PIL image → PNG bytes."""
    img = x if isinstance(x, Image.Image) else tensor_to_pil(x)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def save_png(x: torch.Tensor | Image.Image, path: str | os.PathLike) -> Path:
    """Save a tensor in [−1, 1] (or a PIL image) as PNG, atomically."""
    return write_bytes_atomic(path, encode_png(x))
