"""Classic baselines as image links: JPEG + 5G LDPC + 4-QAM, and DeepJSCC (Bourtsoulatze et al.).

Every link implements :class:`~edsc.baselines.common.ImageLink` (``transmit(images, snr_db, channel, seed)`` ->
:class:`~edsc.baselines.common.LinkResult`) over the project's channel emulator.
"""

from edsc.baselines.common import ImageLink, LinkResult, check_images, evaluate_link, psnr, resolve_channel
from edsc.baselines.deepjscc import DeepJSCC, DeepJSCCConfig, DeepJSCCLink, load_deepjscc, save_deepjscc
from edsc.baselines.jpeg_ldpc import PAPER_CBR, JpegLdpcLink, decode_jpeg_bytes, encode_jpeg_to_budget

__all__ = [
    "ImageLink",
    "LinkResult",
    "check_images",
    "evaluate_link",
    "psnr",
    "resolve_channel",
    "JpegLdpcLink",
    "DeepJSCC",
    "DeepJSCCConfig",
    "DeepJSCCLink",
    "load_deepjscc",
    "save_deepjscc",
    "PAPER_CBR",
    "decode_jpeg_bytes",
    "encode_jpeg_to_budget",
]
