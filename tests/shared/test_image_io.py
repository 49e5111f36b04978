"""Image I/O: decoding limits and errors, tensor conversion, atomic PNG writes."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from shared import image_io as io_
from shared.errors import InvalidArgumentError


def _png(size=(64, 48), mode="RGB", fmt="PNG"):
    buf = io.BytesIO()
    Image.new(mode, size, color=(200, 100, 50) if mode == "RGB" else None).save(buf, format=fmt)
    return buf.getvalue()


def test_decode_png_and_jpeg():
    assert io_.decode_image(_png()).size == (64, 48)
    assert io_.decode_image(_png(fmt="JPEG")).mode == "RGB"


def test_rgba_composited_on_white():
    img = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    out = io_.decode_image(buf.getvalue())
    assert out.getpixel((5, 5)) == (255, 255, 255)


@pytest.mark.parametrize("data,match", [
    (b"", "empty"),
    (b"hello, this is not an image", "not a readable image"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "not a readable image|could not be decoded"),
])
def test_bad_bytes(data, match):
    with pytest.raises(InvalidArgumentError, match=match):
        io_.decode_image(data)


def test_truncated_png():
    data = _png((200, 200))
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8))
    buf = io.BytesIO()
    noise.save(buf, format="PNG")
    data = buf.getvalue()
    with pytest.raises(InvalidArgumentError, match="truncated|could not be decoded|not a readable"):
        io_.decode_image(data[: len(data) // 2])


def test_size_limits():
    with pytest.raises(InvalidArgumentError, match="at least 32"):
        io_.decode_image(_png((16, 64)))
    with pytest.raises(InvalidArgumentError, match="10485760"):
        io_.decode_image(b"\x00" * (io_.MAX_IMAGE_BYTES + 1))
    huge = io.BytesIO()
    Image.new("1", (9000, 40)).save(huge, format="PNG")       # tiny file, too many pixels per side
    with pytest.raises(InvalidArgumentError, match="8192"):
        io_.decode_image(huge.getvalue())


def test_decompression_bomb_is_a_clear_error(monkeypatch):
    bomb = io.BytesIO()
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    Image.new("1", (15000, 15000)).save(bomb, format="PNG")      # 27 KB, 225 M pixels
    monkeypatch.undo()
    with pytest.raises(InvalidArgumentError, match="too many pixels.*8192 px per side"):
        io_.decode_image(bomb.getvalue())


def test_tensor_roundtrip_and_center_crop(tmp_path):
    img = Image.new("RGB", (100, 60), (255, 0, 0))
    img.paste((0, 0, 255), (0, 0, 20, 60))                 # blue band on the left, cropped away
    t = io_.pil_to_tensor(img, 32)
    assert t.shape == (1, 3, 32, 32) and t.dtype == torch.float32
    assert float(t.min()) >= -1 and float(t.max()) <= 1
    assert torch.allclose(t[0, 0], torch.ones(32, 32), atol=1e-6)   # red everywhere
    out = io_.save_png(t, tmp_path / "x.png")
    back = io_.pil_to_tensor(Image.open(out))
    assert torch.allclose(back, t, atol=1 / 127.5)
    assert not list(tmp_path.glob("*.tmp"))


def test_missing_file_named(tmp_path):
    with pytest.raises(InvalidArgumentError, match="does not exist"):
        io_.read_image_file(tmp_path / "nope.png")


@pytest.mark.parametrize("fmt", ["BMP", "GIF", "TIFF", "WEBP", "PPM"])
def test_only_png_and_jpeg(fmt):
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 20, 30)).save(buf, format=fmt)
    with pytest.raises(InvalidArgumentError, match="PNG or JPEG expected") as err:
        io_.decode_image(buf.getvalue())
    assert "<" not in str(err.value) and "0x" not in str(err.value)     # no Python reprs


def test_large_images_are_decoded_small_when_the_target_is_known():
    yy, xx = np.mgrid[0:2048, 0:3072]
    big = Image.fromarray(np.stack([xx % 256, yy % 256, (xx + yy) % 256], -1).astype(np.uint8))
    for fmt in ("JPEG", "PNG"):
        buf = io.BytesIO()
        big.save(buf, format=fmt)
        img = io_.decode_image(buf.getvalue(), target=128)
        assert min(img.size) >= 256 and min(img.size) < 512, (fmt, img.size)    # >= 2 x target, well under 2048
        assert abs(img.size[0] / img.size[1] - 1.5) < 0.02                       # aspect ratio kept
        assert io_.decode_image(buf.getvalue()).size == (3072, 2048)              # no target: full size
    t = io_.load_image_tensor(buf.getvalue(), 128)
    assert t.shape == (1, 3, 128, 128)


def test_pixel_budget_waits_then_refuses():
    from shared.errors import ResourceExhaustedError

    budget = io_.PixelBudget(100, wait_s=0.2)
    with budget.reserve(80):
        with pytest.raises(ResourceExhaustedError, match="retry later"):
            with budget.reserve(30):
                pass
        with budget.reserve(20):
            assert budget.used == 100
    assert budget.used == 0
