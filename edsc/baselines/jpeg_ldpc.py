r"""The separate source-channel coding baseline: JPEG + 5G LDPC + 4-QAM.

Sender: each image is JPEG-encoded with Pillow (baseline JPEG, 4:2:0 chroma, optimised Huffman tables) at the
**largest quality** (scanned down from ``max_quality``) whose file fits a budget of ``ceil(bpp * H * W)`` bits
(the paper: 0.7 bpp at 128 x 128, i.e. 11 469 bits, 1433 bytes). The file is padded with zero bytes to the
budget, so every image costs the same channel uses (a fixed-rate link, as a CBR comparison assumes); the bits go
through the project's coded digital link :func:`channel_emulator.digital.run_digital_link` (5G LDPC, rate
``code_rate``, Gray QAM, the emulator's AWGN / Rayleigh / Rician / TDL channel with its CSI modes, the receiver's
equaliser :func:`receiver.equalization.equalize`, soft demapping, belief-propagation decoding).

Receiver: the hard-decided bytes are handed to the JPEG decoder exactly as a real receiver would, i.e. without
knowing whether the LDPC decoder succeeded (there is no CRC; block errors are counted against the true bits for
the report only). What happens to corrupted bits:

* the stream is decoded with Pillow's ``LOAD_TRUNCATED_IMAGES`` (libjpeg's error recovery: corrupt entropy-coded
  data decodes into wrong blocks, smeared colours and shifted rows; a missing tail stays unfilled) and any error is
  caught;
* if the file cannot be decoded at all (the SOI/SOF/DQT/DHT headers were destroyed, the decoder raises, or the
  header now announces another image size, which is also how a receiver guards against a corrupted size field
  asking for gigapixels), the receiver shows a **mid-grey frame** (0 in [-1, 1]); this is the "cliff".

``LinkResult.info`` reports per image: ``jpeg_bytes``, ``quality``, ``bpp_jpeg`` (the file's own bits per
pixel), ``bit_errors``, ``block_errors`` (LDPC code blocks in error, genie-counted), ``exact`` (no bit error),
``decode_ok`` (the decoder returned an image of the right size, possibly corrupted) and ``fallback_used`` (grey
frame shown); and per batch ``blocks_per_image``, ``ber``, ``bler``, ``plan``, ``channel_uses``, ``cbr_data``,
``n_bits``, ``budget_bytes``.

CBR, honestly: the paper reports 0.0389 for JPEG+LDPC at 0.7 bpp with 4-QAM, but 11 469 bits at rate 1/2 and
2 bits per 4-QAM symbol need 11 470 complex channel uses = 22 940 real values, a CBR of **0.467** real values per
source value (``2 * 11470 / 49152``), 12x the paper's figure (see ``docs/CHANNEL.md``). ``JpegLdpcLink.budget``
and ``LinkResult.cbr`` report ours; pilots (``csi="ls"``) are counted on top.
"""

from __future__ import annotations

import io
import math
import threading
from dataclasses import dataclass
from typing import Any, Mapping, Optional

import numpy as np
import torch
from PIL import Image, ImageFile
from torch import Tensor

from channel_emulator.config import ChannelConfig
from channel_emulator.digital import MAX_RATE, MIN_RATE, bpp_budget, plan_ldpc, run_digital_link
from edsc.baselines.common import LinkResult, check_images, resolve_channel
from shared.errors import InvalidArgumentError

__all__ = ["JpegLdpcLink", "encode_jpeg_to_budget", "decode_jpeg_bytes", "PAPER_CBR"]

#: The CBR the paper states for JPEG + LDPC at 0.7 bpp, 128 x 128 (not reachable with rate-1/2 4-QAM, see above).
PAPER_CBR = 0.0389

_TRUNCATED_LOCK = threading.Lock()


def encode_jpeg_to_budget(image: np.ndarray, budget_bytes: int, *, max_quality: int = 95, min_quality: int = 1,
                          optimize: bool = True, subsampling: str = "4:2:0") -> tuple[bytes, int]:
    """JPEG at the largest quality whose file fits ``budget_bytes``.

    Input
    -----
    image : (H, W, 3) uint8
    budget_bytes : int

    Output
    ------
    (file bytes, quality)

    Raises
    ------
    InvalidArgumentError
        Even quality ``min_quality`` does not fit (the JPEG headers alone are a few hundred bytes).
    """
    pil = Image.fromarray(np.ascontiguousarray(image))  # (H, W, 3) uint8 -> RGB
    size = None
    for q in range(int(max_quality), int(min_quality) - 1, -1):
        buf = io.BytesIO()
        pil.save(buf, format="JPEG", quality=q, optimize=optimize, subsampling=subsampling)
        data = buf.getvalue()
        if len(data) <= budget_bytes:
            return data, q
        size = len(data)
    raise InvalidArgumentError(
        f"a JPEG of this {pil.width}x{pil.height} image needs {size} bytes even at quality {min_quality}, more than "
        f"the budget of {budget_bytes} bytes; raise bpp")


def decode_jpeg_bytes(data: bytes, height: int, width: int) -> tuple[Optional[np.ndarray], str]:
    """Decode a possibly corrupted JPEG byte stream the way a tolerant receiver does.

    Input
    -----
    data : bytes
    height, width : the image size the receiver expects

    Output
    ------
    (image (H, W, 3) uint8 or None, status): status ``"ok"`` when decoded (possibly with corrupted content),
    otherwise why it failed (``"unreadable: ..."``, ``"size WxH"``, ``"decoder: ..."``); None means the caller
    falls back.
    """
    try:
        im = Image.open(io.BytesIO(data), formats=["JPEG"])
    except Exception as exc:  # noqa: BLE001 - any header corruption is a decode failure
        return None, f"unreadable: {type(exc).__name__}"
    if im.size != (width, height):
        return None, f"size {im.size[0]}x{im.size[1]}"
    with _TRUNCATED_LOCK:  # Pillow's switch is a module global
        previous = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = True
        try:
            im.load()
            arr = np.asarray(im.convert("RGB"), dtype=np.uint8)
        except Exception as exc:  # noqa: BLE001
            return None, f"decoder: {type(exc).__name__}"
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = previous
    if arr.shape != (height, width, 3):
        return None, f"shape {arr.shape}"
    return arr, "ok"


def _to_uint8(images: Tensor) -> np.ndarray:
    """(B, 3, H, W) in [-1, 1] -> (B, H, W, 3) uint8 (the PNG a sender would hold)."""
    q = torch.floor((images.detach().clamp(-1.0, 1.0) + 1.0) * 127.5 + 0.5).clamp(0, 255).to(torch.uint8)
    return q.permute(0, 2, 3, 1).cpu().numpy()


def _from_uint8(arr: np.ndarray) -> Tensor:
    """(B, H, W, 3) uint8 -> (B, 3, H, W) float32 in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(arr)).permute(0, 3, 1, 2).to(torch.float32) / 127.5 - 1.0


@dataclass
class JpegLdpcLink:
    """JPEG + 5G LDPC + QAM over the emulator's channel (see the module docstring).

    Parameters
    ----------
    bpp : float
        Bit budget per pixel (the paper: 0.7 at 128 x 128, 0.2 at 1024 x 1024).
    code_rate : float
        LDPC rate in [1/5, 948/1024] (the paper: 1/2).
    bits_per_symbol : int
        QAM order, 2 = 4-QAM (the paper's choice).
    num_iter : int
        Belief-propagation iterations.
    max_quality, min_quality : int
        Range of JPEG qualities scanned (largest first).
    optimize : bool
        Optimised Huffman tables (saves about 500 bytes of a 128 x 128 file).
    subsampling : str
        Pillow's chroma subsampling ("4:2:0", "4:2:2", "4:4:4").
    """

    bpp: float = 0.7
    code_rate: float = 0.5
    bits_per_symbol: int = 2
    num_iter: int = 20
    max_quality: int = 95
    min_quality: int = 1
    optimize: bool = True
    subsampling: str = "4:2:0"
    name: str = "jpeg+ldpc"

    def __post_init__(self) -> None:
        if isinstance(self.bpp, bool) or not isinstance(self.bpp, (int, float)) or not (
                math.isfinite(self.bpp) and self.bpp > 0):
            raise InvalidArgumentError(f"bpp must be a positive number, got {self.bpp!r}")
        if not (isinstance(self.code_rate, (int, float)) and MIN_RATE <= self.code_rate <= MAX_RATE):
            raise InvalidArgumentError(f"code_rate must lie in [{MIN_RATE:g}, {MAX_RATE:.4f}], got {self.code_rate!r}")
        if not 1 <= int(self.min_quality) <= int(self.max_quality) <= 100:
            raise InvalidArgumentError(f"need 1 <= min_quality <= max_quality <= 100, got {self.min_quality}, "
                                       f"{self.max_quality}")

    # ------------------------------------------------------------------------------------------------ budget
    def budget(self, height: int, width: int) -> dict[str, Any]:
        """The bit budget and its channel cost for an ``height x width`` RGB image.

        Output: :func:`channel_emulator.digital.bpp_budget` (``n_bits``, ``plan``, ``channel_uses``, ``k_real``,
        ``cbr`` in real values, ``cbr_complex``) plus ``budget_bytes`` (what a JPEG file may use) and
        ``paper_cbr`` (0.0389, for comparison).
        """
        b = bpp_budget(float(self.bpp), int(height), int(width), 3, code_rate=float(self.code_rate),
                       bits_per_symbol=int(self.bits_per_symbol))
        b["budget_bytes"] = b["n_bits"] // 8
        b["paper_cbr"] = PAPER_CBR
        return b

    def cbr(self, height: int = 128, width: int = 128) -> float:
        """CBR in real channel values per source real value (no pilots): 0.467 at 0.7 bpp, 128 x 128."""
        return float(self.budget(height, width)["cbr"])

    # ------------------------------------------------------------------------------------------------ source code
    def compress(self, images: Tensor) -> tuple[list[bytes], list[int]]:
        """JPEG files of a batch at the budget.

        Input: images (B, 3, H, W) in [-1, 1]. Output: (B files, B qualities).
        """
        images = check_images(images)
        budget_bytes = self.budget(images.shape[2], images.shape[3])["budget_bytes"]
        files, qualities = [], []
        for img in _to_uint8(images):  # (H, W, 3)
            data, q = encode_jpeg_to_budget(img, budget_bytes, max_quality=self.max_quality,
                                            min_quality=self.min_quality, optimize=self.optimize,
                                            subsampling=self.subsampling)
            files.append(data)
            qualities.append(q)
        return files, qualities

    def jpeg_only(self, images: Tensor) -> Tensor:
        """The JPEG reconstruction without a channel (what an error-free link delivers), (B, 3, H, W)."""
        images = check_images(images)
        h, w = images.shape[2], images.shape[3]
        files, _ = self.compress(images)
        out = [decode_jpeg_bytes(f, h, w)[0] for f in files]
        return _from_uint8(np.stack(out)).to(images.device)

    # ------------------------------------------------------------------------------------------------ link
    def transmit(self, images: Tensor, snr_db: float, channel: ChannelConfig | Mapping[str, Any] | None = None,
                 seed: int = 0) -> LinkResult:
        """JPEG -> bits -> LDPC + QAM -> channel -> equaliser -> LDPC decoder -> JPEG decoder (or grey).

        Input
        -----
        images : (B, 3, H, W) float in [-1, 1]
        snr_db : Es/N0 in dB (overrides ``channel``'s)
        channel : ChannelConfig / mapping / None (AWGN); ``power_mode`` does not apply to QAM
        seed : channel seed

        Output
        ------
        LinkResult: ``images`` (B, 3, H, W) on the input's device, ``cbr`` (real values, pilots included),
        ``info`` (see the module docstring)
        """
        from receiver.equalization import equalize

        images = check_images(images)
        cfg = resolve_channel(channel, snr_db)
        device = images.device
        bsz, _, h, w = images.shape
        bud = self.budget(h, w)
        n_bits, budget_bytes = int(bud["n_bits"]), int(bud["budget_bytes"])
        files, qualities = self.compress(images)

        payload = np.zeros((bsz, budget_bytes), dtype=np.uint8)  # zero-padded files
        for i, f in enumerate(files):
            payload[i, : len(f)] = np.frombuffer(f, dtype=np.uint8)
        bits_np = np.zeros((bsz, n_bits), dtype=np.float32)
        bits_np[:, : 8 * budget_bytes] = np.unpackbits(payload, axis=1)  # MSB first
        bits = torch.from_numpy(bits_np).to(device)  # (B, n_bits)

        plan = plan_ldpc(n_bits, code_rate=float(self.code_rate), bits_per_symbol=int(self.bits_per_symbol))
        res = run_digital_link(bits, cfg, equalize=equalize, plan=plan, num_iter=int(self.num_iter), seed=int(seed))

        # per-image accounting (the link reports totals)
        err = (res.bits_hat != bits)  # (B, n_bits)
        pad = torch.zeros(bsz, plan.n_blocks * plan.k_cb, dtype=torch.bool, device=err.device)
        pad[:, :n_bits] = err
        block_errors = pad.reshape(bsz, plan.n_blocks, plan.k_cb).any(-1).sum(-1).tolist()  # (B,)
        bit_errors = err.sum(-1).tolist()

        rx_bytes = np.packbits(res.bits_hat[:, : 8 * budget_bytes].to(torch.uint8).cpu().numpy(), axis=1)
        out = np.zeros((bsz, h, w, 3), dtype=np.uint8)
        decode_ok, fallback, status = [], [], []
        for i in range(bsz):
            arr, st = decode_jpeg_bytes(rx_bytes[i].tobytes(), h, w)
            ok = arr is not None
            if ok:
                out[i] = arr
            decode_ok.append(ok)
            fallback.append(not ok)
            status.append(st)
        rec = _from_uint8(out).to(device)  # (B, 3, H, W)
        for i in range(bsz):
            if fallback[i]:
                rec[i] = 0.0  # mid-grey frame

        n_uses = int(res.channel.side_info.layout.n_uses)
        info: dict[str, Any] = {
            "jpeg_bytes": [len(f) for f in files],
            "quality": qualities,
            "bpp_jpeg": [8 * len(f) / (h * w) for f in files],
            "bit_errors": [int(v) for v in bit_errors],
            "block_errors": [int(v) for v in block_errors],
            "exact": [int(v) == 0 for v in bit_errors],
            "decode_ok": decode_ok,
            "fallback_used": fallback,
            "decode_status": status,
            "blocks_per_image": plan.n_blocks,
            "ber": res.ber,
            "bler": res.bler,
            "plan": plan.to_dict(),
            "n_bits": n_bits,
            "budget_bytes": budget_bytes,
            "channel_uses": n_uses,
            "cbr_data": float(bud["cbr"]),
            "paper_cbr": PAPER_CBR,
            "snr_db": cfg.snr_db,
            "channel": cfg.model,
            "seed": int(seed),
        }
        return LinkResult(images=rec, cbr=2.0 * n_uses / (3 * h * w), info=info)
