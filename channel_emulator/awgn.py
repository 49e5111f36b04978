r"""AWGN with a local generator: Sionna's :class:`~sionna.phy.channel.AWGN` block, seeded per request.

:math:`y = x + n`, :math:`n \sim \mathcal{CN}(0, N_0)` (variance :math:`N_0/2` per real dimension). The noise is
drawn by Sionna's block itself (``complex_normal`` with the block's ``torch_rng``); :class:`SeededAWGN` only
replaces Sionna's global generator by the per-request one (see :mod:`channel_emulator.rng`), which makes the
noise a pure function of the seed.
"""

from __future__ import annotations

import threading

import torch
from sionna.phy.channel import AWGN

from channel_emulator.rng import LocalRNG, sionna_device

__all__ = ["SeededAWGN", "add_awgn", "snr_db_to_no"]


class SeededAWGN(LocalRNG, AWGN):
    """Sionna's AWGN block drawing its noise from a per-call generator (``with block.using(g): block(x, no)``)."""


_BLOCKS: dict[str, SeededAWGN] = {}
_LOCK = threading.Lock()


def _block(device: str) -> SeededAWGN:
    blk = _BLOCKS.get(device)
    if blk is None:
        with _LOCK:
            blk = _BLOCKS.get(device)
            if blk is None:
                blk = SeededAWGN(device=device)
                _BLOCKS[device] = blk
    return blk


_NO: dict[tuple[float, torch.device], torch.Tensor] = {}


def _no_tensor(no: float, device: torch.device) -> torch.Tensor:
    """A cached 0-d float32 tensor holding ``no`` (saves Sionna's per-call scalar conversion)."""
    key = (no, device)
    t = _NO.get(key)
    if t is None:
        if len(_NO) >= 1024:
            _NO.clear()
        t = _NO[key] = torch.tensor(no, dtype=torch.float32, device=device)
    return t


def snr_db_to_no(snr_db: float, es: float = 1.0) -> float:
    """:math:`N_0 = E_s / 10^{SNR/10}`."""
    return es * 10.0 ** (-snr_db / 10.0)


def add_awgn(x: torch.Tensor, no: float | torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Add :math:`\\mathcal{CN}(0, N_0)` noise to complex ``x`` with Sionna's AWGN, drawing from ``generator``.

    Input
    -----
    x : [...], complex64
    no : float or tensor broadcastable to ``x`` (Sionna's rules)
    generator : torch.Generator on ``x.device``

    Output
    ------
    y : [...], complex64
    """
    blk = _block(sionna_device(x.device))
    if not isinstance(no, torch.Tensor):
        no = _no_tensor(float(no), x.device)
    previous = blk.set_generator(generator)  # (a plain try/finally: cheaper than the context manager per call)
    try:
        return blk(x, no)
    finally:
        blk.set_generator(previous)
