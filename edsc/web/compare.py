"""The console's comparison: the transmitter's noiseless edit sent through the classic links (edit before the
link, the paper's scheme M2) at the same SNR and channel, each scored by LPIPS against that noiseless edit."""

from __future__ import annotations

import base64
import threading
from pathlib import Path
from typing import Any, Optional

_lock = threading.Lock()
_cache: dict[str, Any] = {}


def _png_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _models(deepjscc_dir):
    """LPIPS (AlexNet) and the DeepJSCC model, loaded once per process (None for a DeepJSCC that cannot load,
    with the reason; ``deepjscc_dir=False``: not wanted)."""
    from shared.lpips import get_lpips

    with _lock:
        if "lpips" not in _cache:
            _cache["lpips"] = get_lpips("alex", "cpu")
        key = f"deepjscc:{deepjscc_dir}"
        if deepjscc_dir is False:
            return _cache["lpips"], (None, "")
        if key not in _cache:
            from edsc.baselines import load_deepjscc
            from shared.errors import EditDSCError
            try:
                _cache[key] = (load_deepjscc(deepjscc_dir, "cpu"), "")
            except EditDSCError as exc:
                _cache[key] = (None, str(exc))
        return _cache["lpips"], _cache[key]


LINKS = ("JPEG + LDPC", "DeepJSCC")


def compare_links(ideal_png: bytes, received_png: bytes, snr_db: float, channel: dict, seed: int,
                  editdsc_cbr: float, deepjscc_dir: Optional[Path] = None, threads: int = 1,
                  links: tuple[str, ...] = LINKS) -> list[dict]:
    """Editable-DeepSC's received image and the JPEG + LDPC and DeepJSCC links, each against the noiseless edit.

    Parameters
    ----------
    ideal_png : the transmitter's noiseless edit G(w_edit); received_png : what the receiver rendered
    snr_db, channel : the link's SNR and channel (``{"model", "csi"}``); seed : the baselines' channel seed
    editdsc_cbr : the transmitter's CBR for its own row
    deepjscc_dir : DeepJSCC weights (None: the shipped model); threads : torch CPU threads (0: every core)
    links : which classic links to run (names of :data:`LINKS`)

    Returns
    -------
    one dict per link: ``name``, ``image`` (data URL or None), ``cbr``, ``lpips`` (None when the link could not
    run) and ``note`` (why not, or what went wrong on the channel)
    """
    import torch

    from shared.errors import EditDSCError
    from shared.image_io import decode_image, encode_png, pil_to_tensor

    if threads > 0:
        torch.set_num_threads(threads)
    unknown = set(links) - set(LINKS)
    if unknown:
        raise EditDSCError(f"unknown links {sorted(unknown)}; use {', '.join(LINKS)}")
    lpips, (deepjscc, deepjscc_missing) = _models(deepjscc_dir if "DeepJSCC" in links else False)
    ideal_img = decode_image(ideal_png, "the noiseless edit")
    size = ideal_img.size[0]
    ideal = pil_to_tensor(ideal_img, size)                                        # (1, 3, R, R)
    received = pil_to_tensor(decode_image(received_png, "the received image"), size)   # (1, 3, R, R)

    def score(images: torch.Tensor) -> float:
        with torch.no_grad():
            return float(lpips(images.float(), ideal.float())[0])

    rows = [{"name": "Editable-DeepSC", "image": _png_url(received_png), "cbr": float(editdsc_cbr),
             "lpips": score(received), "note": ""}]
    todo: list[tuple[str, Any, str]] = []
    if "JPEG + LDPC" in links:
        from edsc.baselines.jpeg_ldpc import JpegLdpcLink
        todo.append(("JPEG + LDPC", JpegLdpcLink(), ""))
    if "DeepJSCC" in links:
        if deepjscc is None:
            todo.append(("DeepJSCC", None, f"DeepJSCC is not available: {deepjscc_missing}"))
        elif deepjscc.cfg.image_size != size:
            todo.append(("DeepJSCC", None, f"the DeepJSCC model is trained for {deepjscc.cfg.image_size} × "
                                           f"{deepjscc.cfg.image_size} images; this bundle's are {size} × {size}"))
        else:
            from edsc.baselines.deepjscc import DeepJSCCLink
            todo.append(("DeepJSCC", DeepJSCCLink(deepjscc), ""))
    for name, link, why in todo:
        if link is None:
            rows.append({"name": name, "image": None, "cbr": None, "lpips": None, "note": why})
            continue
        try:
            res = link.transmit(ideal, snr_db, channel, seed=seed)
        except (EditDSCError, ValueError) as exc:
            rows.append({"name": name, "image": None, "cbr": None, "lpips": None,
                         "note": f"{name} could not send this image: {exc}"})
            continue
        note = ""
        if res.info.get("fallback_used", [False])[0]:
            note = "the JPEG file did not survive the channel (LDPC decoding failed): the receiver shows grey"
        elif res.info.get("bit_errors", [0])[0]:
            note = f"{res.info['bit_errors'][0]} bit errors after LDPC decoding corrupt the JPEG"
        rows.append({"name": name, "image": _png_url(encode_png(res.images[0].cpu())), "cbr": float(res.cbr),
                     "lpips": score(res.images.cpu()), "note": note})
    return rows
