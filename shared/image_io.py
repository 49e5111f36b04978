"""Image I/O both ends use: decoding uploads with clear errors, tensor conversion, PNG encoding.

Limits on an uploaded image (checked before any pixel is decoded where possible):

- at most ``MAX_IMAGE_BYTES`` (10 MiB) of encoded data;
- PNG, JPEG, BMP, WebP or TIFF (whatever Pillow decodes), any mode (converted to RGB; alpha is composited on white);
- each side at least ``MIN_SIDE`` (32) pixels and at most ``MAX_SIDE`` (8192) pixels, at most ``MAX_PIXELS``
  (40 M) pixels in all.

A non-square image is centre-cropped to a square, then resized (bicubic, antialiased) to the model's resolution.
Tensors are (B, 3, H, W) float32 in [−1, 1], the StyleGAN convention.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from shared.errors import InvalidArgumentError

MAX_IMAGE_BYTES = 10 * 1024 * 1024
MIN_SIDE = 32
MAX_SIDE = 8192
MAX_PIXELS = 40_000_000


def decode_image(data: bytes, name: str = "image") -> Image.Image:
    """Decode encoded image bytes into an RGB PIL image, validating size limits.

    Raises :class:`InvalidArgumentError` naming the problem (empty, too large, not an image, truncated,
    too small, too many pixels).
    """
    if not data:
        raise InvalidArgumentError(f"{name} is empty (0 bytes)")
    if len(data) > MAX_IMAGE_BYTES:
        raise InvalidArgumentError(f"{name} is {len(data)} bytes; the limit is {MAX_IMAGE_BYTES} bytes (10 MiB)")
    try:
        img = Image.open(io.BytesIO(data))
        width, height = img.size
    except Image.DecompressionBombError as exc:   # Pillow refuses to even open > ~179 M pixels
        raise InvalidArgumentError(
            f"{name} is too large ({exc}); the limits are {MAX_SIDE} px per side and {MAX_PIXELS} pixels"
        ) from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise InvalidArgumentError(f"{name} is not a readable image (PNG/JPEG expected): {exc}") from None
    if min(width, height) < MIN_SIDE:
        raise InvalidArgumentError(f"{name} is {width}x{height} px; each side must be at least {MIN_SIDE} px")
    if max(width, height) > MAX_SIDE or width * height > MAX_PIXELS:
        raise InvalidArgumentError(
            f"{name} is {width}x{height} px; the limits are {MAX_SIDE} px per side and {MAX_PIXELS} pixels"
        )
    try:
        img.load()
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise InvalidArgumentError(f"{name} could not be decoded (truncated or corrupt?): {exc}") from None
    if img.mode in ("RGBA", "LA", "P", "PA"):
        img = img.convert("RGBA")
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, img)
    return img.convert("RGB")


def read_image_file(path: str | os.PathLike) -> Image.Image:
    """Read and validate an image file (errors name the path)."""
    path = Path(path)
    if not path.is_file():
        raise InvalidArgumentError(f"image file {str(path)!r} does not exist")
    return decode_image(path.read_bytes(), name=f"image {str(path)!r}")


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
    img = decode_image(source) if isinstance(source, (bytes, bytearray)) else read_image_file(source)
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


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file in the same folder, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def save_png(x: torch.Tensor | Image.Image, path: str | os.PathLike) -> Path:
    """Save a tensor in [−1, 1] (or a PIL image) as PNG, atomically."""
    return write_bytes_atomic(path, encode_png(x))
