"""Tests of edsc/baselines/jpeg_ldpc.py: JPEG + 5G LDPC + 4-QAM over the emulator.

Small images (64 px at 2 bpp: one LDPC code block of 8192 bits per image) keep each link call under a second.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from edsc.baselines import ImageLink, JpegLdpcLink, LinkResult, PAPER_CBR, decode_jpeg_bytes, psnr
from edsc.baselines.common import resolve_channel
from edsc.world.faces import heldout_faces
from shared.channel.errors import ChannelParameterError
from shared.errors import InvalidArgumentError

SIZE = 64


@pytest.fixture(scope="module")
def faces() -> torch.Tensor:
    return heldout_faces("baselines-test", 0, 2, size=SIZE)[0]  # (2, 3, 64, 64)


@pytest.fixture(scope="module")
def link() -> JpegLdpcLink:
    return JpegLdpcLink(bpp=2.0)


def test_is_an_image_link(link):
    assert isinstance(link, ImageLink)
    assert link.name == "jpeg+ldpc"


def test_cbr_at_the_paper_setting():
    b = JpegLdpcLink(bpp=0.7).budget(128, 128)
    assert b["n_bits"] == 11469 and b["budget_bytes"] == 1433
    assert b["channel_uses"] == 11470  # rate 1/2, 2 bits per 4-QAM symbol
    assert b["cbr"] == pytest.approx(2 * 11470 / (3 * 128 * 128))
    assert b["cbr"] == pytest.approx(0.4667, abs=1e-4)
    assert JpegLdpcLink().cbr() == pytest.approx(b["cbr"])
    assert b["paper_cbr"] == PAPER_CBR == 0.0389
    assert b["cbr"] / PAPER_CBR == pytest.approx(12.0, rel=0.001)  # the paper's figure is 12x lower


def test_files_fit_the_budget(link, faces):
    files, qualities = link.compress(faces)
    budget = link.budget(SIZE, SIZE)["budget_bytes"]
    assert all(len(f) <= budget for f in files)
    assert all(1 <= q <= 95 for q in qualities)
    # the largest quality: one step up no longer fits (or is the cap)
    img = np.asarray(Image.open(io.BytesIO(files[0])).convert("RGB"))
    assert img.shape == (SIZE, SIZE, 3)


def test_high_snr_is_error_free_and_equals_the_jpeg(link, faces):
    res = link.transmit(faces, 18.0, seed=0)
    assert isinstance(res, LinkResult)
    assert res.images.shape == faces.shape and res.images.dtype == torch.float32
    assert res.info["block_errors"] == [0, 0] and res.info["bit_errors"] == [0, 0]
    assert res.info["decode_ok"] == [True, True] and res.info["fallback_used"] == [False, False]
    assert res.info["exact"] == [True, True]
    ref = link.jpeg_only(faces)
    assert torch.allclose(psnr(res.images, faces), psnr(ref, faces), atol=1e-4)
    assert float(psnr(ref, faces).min()) > 25.0
    assert res.cbr == pytest.approx(link.budget(SIZE, SIZE)["cbr"])
    assert res.info["blocks_per_image"] == 1 and res.info["channel_uses"] == link.budget(SIZE, SIZE)["channel_uses"]


def test_low_snr_falls_back_to_grey(link, faces):
    res = link.transmit(faces, -6.0, seed=0)
    assert all(b > 0 for b in res.info["block_errors"])
    assert res.info["decode_ok"] == [False, False]
    assert res.info["fallback_used"] == [True, True]
    assert all(s != "ok" for s in res.info["decode_status"])
    assert torch.equal(res.images, torch.zeros_like(faces))  # mid-grey
    assert res.info["ber"] > 0.2


def test_fading_with_pilots_counts_them(link, faces):
    res = link.transmit(faces[:1], 18.0, channel={"model": "rayleigh", "csi": "ls"}, seed=1)
    assert res.info["channel"] == "rayleigh"
    assert res.cbr > res.info["cbr_data"]  # LS pilots cost channel uses
    assert res.images.shape == (1, 3, SIZE, SIZE)


def test_decoder_tolerates_corrupt_data_and_rejects_broken_headers(faces):
    link = JpegLdpcLink(bpp=2.0)
    data = bytearray(link.compress(faces[:1])[0][0])
    # corrupt the entropy-coded data (after the SOS header): decodes into a damaged image
    sos = bytes(data).index(b"\xff\xda")
    for i in range(sos + 40, len(data) - 10, 37):
        data[i] ^= 0x5A
    arr, status = decode_jpeg_bytes(bytes(data), SIZE, SIZE)
    assert status == "ok" and arr.shape == (SIZE, SIZE, 3)
    # truncated stream: still decodes (the rest stays unfilled)
    arr, status = decode_jpeg_bytes(bytes(data[: len(data) // 2]), SIZE, SIZE)
    assert status == "ok"
    # destroyed SOI marker: no image at all
    broken = bytearray(data)
    broken[0] ^= 0xFF
    arr, status = decode_jpeg_bytes(bytes(broken), SIZE, SIZE)
    assert arr is None and status.startswith("unreadable")
    # another size in the header than the receiver expects
    arr, status = decode_jpeg_bytes(bytes(data), SIZE, SIZE * 2)
    assert arr is None and status.startswith("size")


def test_bad_arguments(faces):
    with pytest.raises(InvalidArgumentError):
        JpegLdpcLink(bpp=0)
    with pytest.raises(InvalidArgumentError):
        JpegLdpcLink(code_rate=0.99)
    with pytest.raises(InvalidArgumentError, match="raise bpp"):
        JpegLdpcLink(bpp=0.05).transmit(faces, 10.0)
    with pytest.raises(ChannelParameterError):
        JpegLdpcLink(bpp=2.0).transmit(faces, 10.0, channel={"model": "nope"})
    with pytest.raises(InvalidArgumentError):
        JpegLdpcLink(bpp=2.0).transmit(faces[:, :1], 10.0)


def test_resolve_channel_snr_wins():
    assert resolve_channel(None, 3.0).model == "awgn"
    assert resolve_channel({"model": "rician", "k_factor_db": 6.0, "snr_db": 40.0}, 3.0).snr_db == 3.0
    from channel_emulator.config import ChannelConfig

    assert resolve_channel(ChannelConfig(model="rayleigh", snr_db=1.0), -2.0).snr_db == -2.0
