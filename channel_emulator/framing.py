"""Frame building: where the data, pilots and padding of a message go (the layout is in :mod:`shared.channel.csi`).

:func:`build_layout` turns a :class:`~channel_emulator.config.ChannelConfig` and the number of complex data symbols
into a :class:`~shared.channel.csi.FrameLayout`; :func:`assemble_frame` places data and pilots accordingly.
"""

from __future__ import annotations

import math

import torch

from channel_emulator.config import ChannelConfig
from shared.channel.csi import FrameLayout

__all__ = ["build_layout", "assemble_frame"]


def build_layout(cfg: ChannelConfig, n_data: int) -> FrameLayout:
    """Frame layout for ``n_data`` complex data symbols under ``cfg``.

    * no pilots (``csi`` "perfect"/"none"): one unit holding all data;
    * LS with block fading (or AWGN): ``pilots`` pilot symbols open every coherence block of ``coherence``
      uses (the whole message when ``coherence`` is None); estimation ``"block"``;
    * LS with a time-varying channel: ``pilots`` pilot slots every ``pilot_spacing`` slots plus a closing pilot
      group; estimation ``"interp"``.
    """
    n_sc = cfg.fft_size if cfg.model == "tdl" else 1
    cp = 0
    if cfg.model == "tdl":
        from channel_emulator.fading import tdl_cp_length  # lazy: builds a TDL model

        cp = tdl_cp_length(cfg)
    data_slots = math.ceil(n_data / n_sc)
    p = cfg.resolved_pilots
    if p == 0:
        return FrameLayout(n_data=n_data, unit_slots=data_slots, n_subcarriers=n_sc, cp_length=cp)
    if cfg.time_varying:
        return FrameLayout(n_data=n_data, unit_slots=cfg.resolved_pilot_spacing, pilot_slots=p, n_subcarriers=n_sc,
                           trailing_pilot=True, estimation="interp", cp_length=cp)
    # a coherence block longer than the message is the whole message
    unit = p + data_slots if cfg.coherence is None else min(cfg.coherence, p + data_slots)
    return FrameLayout(n_data=n_data, unit_slots=unit, pilot_slots=p, n_subcarriers=n_sc, estimation="block",
                       cp_length=cp)


def assemble_frame(z: torch.Tensor, layout: FrameLayout, es: float) -> torch.Tensor:
    """Place data and pilots into frames.

    Input
    -----
    z : [B, n_data], complex
        Data symbols as transmitted (already power-normalised).
    layout : FrameLayout
    es : float
        Nominal symbol energy; pilots are sent as ``sqrt(es) * p``.

    Output
    ------
    s : [B, n_uses], complex
        Frames (``z`` itself when the layout has no pilots and no padding).
    """
    if layout.n_pilot_uses == 0 and layout.n_pad == 0:
        return z
    s = torch.zeros(z.shape[0], layout.n_uses, dtype=z.dtype, device=z.device)
    s[:, layout.data_indices.to(z.device)] = z
    if layout.n_pilot_uses:
        pilots = layout.pilot_values().to(device=z.device, dtype=z.dtype) * math.sqrt(es)
        s[:, layout.pilot_indices.to(z.device)] = pilots
    return s
