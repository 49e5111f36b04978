r"""Channel estimation and equalisation at the receiver, on Sionna's OFDM estimator and equalisers.

The frame the emulator sends (:class:`shared.channel.csi.FrameLayout`) is mapped onto Sionna
:class:`~sionna.phy.ofdm.ResourceGrid` objects with a matching :class:`~sionna.phy.ofdm.PilotPattern`
(a single-carrier frame is a grid with one subcarrier), so that

* LS estimation is Sionna's :class:`~sionna.phy.ofdm.LSChannelEstimator`: ``"block"`` frames are split into one grid
  per coherence block and the pilot estimates of a block are averaged (``"lin_time_avg"``); ``"interp"`` frames are
  one grid whose pilot-slot estimates are interpolated linearly in time (``"lin"``);
* ZF and LMMSE equalisation are Sionna's :class:`~sionna.phy.ofdm.ZFEqualizer` and
  :class:`~sionna.phy.ofdm.LMMSEEqualizer`, which account for the channel-estimation error variance and return the
  effective noise variance per symbol (what a :class:`~sionna.phy.mapping.Demapper` needs). Because they run
  batched 1x1 matrix algebra (about 4 us per symbol on CPU), the default ``backend="scalar"`` evaluates the same
  single-antenna expressions in closed form; ``backend="sionna"`` runs Sionna's blocks (the tests check both agree).

Sionna's equalisers assume unit-energy symbols; the transmit energy ``es`` (P) is folded into the channel
(``h' = sqrt(es) h``) and the outputs are scaled back to transmitted units.

Public functions
----------------
:func:`estimate_channel` -- channel estimate and error variance at every resource element.
:func:`equalize` -- unbiased symbol estimates and effective noise variances of the data symbols (digital link).
:func:`recover` -- the real-valued message estimate (analog latent), inverse of the emulator's pairing.

``recover(..., equalizer="mmse")`` returns the (biased) MMSE estimate
:math:`\hat x = \frac{E_s}{E_s + \sigma^2_\mathrm{eff}}\,\hat x_\mathrm{u}` computed from Sionna's unbiased LMMSE
output :math:`\hat x_\mathrm{u}` and its effective noise variance :math:`\sigma^2_\mathrm{eff}` (for a single
antenna Sionna's unbiased LMMSE estimate equals ZF; the shrinkage is what makes it minimum-MSE for the analog
latent). The receiver does not know the emulator's per-message power scale, so the estimate is of the *transmitted*
(power-normalised) latent.
"""

from __future__ import annotations

import math
import threading
from functools import lru_cache

import numpy as np
import torch
from sionna.phy.mimo import StreamManagement
from sionna.phy.ofdm import LMMSEEqualizer, LSChannelEstimator, PilotPattern, ResourceGrid, ZFEqualizer

from shared.channel.csi import FrameLayout, SideInfo, pilot_sequence
from shared.channel.errors import ChannelParameterError
from shared.errors import quote
from shared.channel.pairing import complex_to_real

__all__ = ["EQUALIZERS", "RECOVER_EQUALIZERS", "estimate_channel", "equalize", "recover"]

#: Equalisers of :func:`equalize` (unbiased outputs).
EQUALIZERS: tuple[str, ...] = ("lmmse", "zf")
#: Equalisers of :func:`recover`: biased MMSE, ZF, or none (raw received data symbols).
RECOVER_EQUALIZERS: tuple[str, ...] = ("mmse", "zf", "none")

_LOCK = threading.Lock()


def _sionna_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda:{device.index if device.index is not None else torch.cuda.current_device()}"
    return device.type


class _GridBlocks:
    """Sionna objects for one frame layout on one device."""

    def __init__(self, layout: FrameLayout, device: str) -> None:
        self.layout = layout
        n_sc = layout.n_subcarriers
        if layout.estimation == "block":
            self.slots = layout.unit_slots
            pilot_slots = list(range(layout.pilot_slots))
        else:
            self.slots = layout.n_slots
            pilot_slots = list(layout.pilot_slot_indices)
        if pilot_slots:
            mask = np.zeros([1, 1, self.slots, n_sc], dtype=np.int32)
            mask[0, 0, pilot_slots, :] = 1
            group = pilot_sequence(layout.pilot_slots * n_sc).numpy()
            pilots = np.tile(group, len(pilot_slots) // layout.pilot_slots)[None, None, :]
            pattern = PilotPattern(mask, pilots, device=device)
        else:
            pattern = None
        # the subcarrier spacing does not enter estimation or equalisation
        self.grid = ResourceGrid(num_ofdm_symbols=self.slots, fft_size=n_sc, subcarrier_spacing=15e3,
                                 pilot_pattern=pattern, device=device)
        sm = StreamManagement(np.ones([1, 1], dtype=int), 1)
        self.lmmse = LMMSEEqualizer(self.grid, sm, device=device)
        self.zf = ZFEqualizer(self.grid, sm, device=device)
        self.ls = None
        if pilot_slots:
            interp = "lin_time_avg" if layout.estimation == "block" else "lin"
            self.ls = LSChannelEstimator(self.grid, interpolation_type=interp, device=device)

    # frames <-> grids ------------------------------------------------------------------------------
    def to_grid(self, t: torch.Tensor) -> torch.Tensor:
        """(B, n_uses) -> (B', 1, 1, slots, F) with B' = B * n_units for block layouts (zero-padded)."""
        lay = self.layout
        b = t.shape[0]
        if lay.estimation == "block":
            total = lay.n_units * lay.unit_slots * lay.n_subcarriers
            if total > lay.n_uses:
                t = torch.nn.functional.pad(t, (0, total - lay.n_uses))
            return t.reshape(b * lay.n_units, 1, 1, lay.unit_slots, lay.n_subcarriers)
        return t.reshape(b, 1, 1, lay.n_slots, lay.n_subcarriers)

    def from_grid(self, t: torch.Tensor, batch: int) -> torch.Tensor:
        """Inverse of :meth:`to_grid` for per-resource-element tensors: (B', ..., slots, F) -> (B, n_uses)."""
        return t.reshape(batch, -1)[:, : self.layout.n_uses]


@lru_cache(maxsize=64)
def _blocks_cached(layout: FrameLayout, device: str) -> _GridBlocks:
    return _GridBlocks(layout, device)


def _blocks(layout: FrameLayout, device: str) -> _GridBlocks:
    with _LOCK:
        return _blocks_cached(layout, device)


def _check(received: torch.Tensor, info: SideInfo) -> None:
    if not isinstance(info, SideInfo):
        raise ChannelParameterError(f"side_info must be a SideInfo, got {type(info).__name__}")
    if not isinstance(received, torch.Tensor) or not received.is_complex() or received.dim() != 2:
        raise ChannelParameterError("received must be a complex tensor of shape (B, n_uses)")
    if received.shape[1] != info.layout.n_uses or received.shape[0] == 0:
        raise ChannelParameterError(f"received has shape {tuple(received.shape)}, the frame layout needs "
                                    f"(B, {info.layout.n_uses})")
    if info.h is not None and info.h.shape[0] != received.shape[0]:
        raise ChannelParameterError(f"side info holds {info.h.shape[0]} channels for {received.shape[0]} messages")


def _effective_channel(received: torch.Tensor, info: SideInfo, blocks: _GridBlocks
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Grid-shaped y, h' = sqrt(es) h_hat and its error variance, for unit-energy symbols."""
    y = blocks.to_grid(received.to(torch.complex64))  # (B', 1, 1, slots, F)
    sq = math.sqrt(info.es)
    if info.csi == "ls":
        no = torch.tensor(info.no, dtype=torch.float32, device=received.device)
        h_eff, err = blocks.ls(y, no)  # (B', 1, 1, 1, 1, slots, F): estimates of sqrt(es) h
        if info.layout.estimation == "block":
            # Sionna's time averaging averages the per-pilot error variances (the variance of one LS estimate);
            # the mean of `pilot_slots` independent estimates has 1/pilot_slots of it.
            err = err / info.layout.pilot_slots
        return y, h_eff, err
    if info.csi == "perfect":
        h = info.h.to(device=received.device, dtype=torch.complex64)
        h_eff = blocks.to_grid(h * sq)
    else:  # "none": assume h = 1
        h_eff = torch.full_like(y, sq)
    h_eff = h_eff.reshape(y.shape[0], 1, 1, 1, 1, y.shape[-2], y.shape[-1])
    return y, h_eff, torch.zeros((), dtype=torch.float32, device=received.device)


def estimate_channel(received: torch.Tensor, side_info: SideInfo) -> tuple[torch.Tensor, torch.Tensor]:
    """The receiver's channel knowledge at every resource element.

    Input
    -----
    received : [B, n_uses], complex
    side_info : SideInfo

    Output
    ------
    h_hat : [B, n_uses], complex64
        True channel (``"perfect"``), LS estimate (``"ls"``, Sionna's :class:`~sionna.phy.ofdm.LSChannelEstimator`),
        or ones (``"none"``).
    err_var : [B, n_uses], float32
        Estimation error variance (LS: :math:`N_0/(E_s\\,n_p)` for block averaging over :math:`n_p` pilots,
        interpolated for ``"interp"`` frames; 0 otherwise).
    """
    _check(received, side_info)
    b, n = received.shape
    if side_info.csi == "perfect":
        h = side_info.h.to(device=received.device, dtype=torch.complex64)
        return h, torch.zeros(b, n, dtype=torch.float32, device=received.device)
    if side_info.csi == "none":
        return (torch.ones(b, n, dtype=torch.complex64, device=received.device),
                torch.zeros(b, n, dtype=torch.float32, device=received.device))
    blocks = _blocks(side_info.layout, _sionna_device(received.device))
    _, h_eff, err = _effective_channel(received, side_info, blocks)
    h_hat = blocks.from_grid(h_eff, b) / math.sqrt(side_info.es)
    err = blocks.from_grid(err.expand(h_eff.shape), b) / side_info.es
    return h_hat, err


def _equalize_scalar(received: torch.Tensor, info: SideInfo) -> tuple[torch.Tensor, torch.Tensor]:
    """Closed form of Sionna's single-antenna LMMSE/ZF equalisers on the data resource elements.

    For one receive antenna and one stream, with :math:`h' = \\sqrt{E_s}\\hat h` and
    :math:`s = N_0 + \\sigma^2_{e}E_s`, both :func:`~sionna.phy.mimo.lmmse_equalizer`
    (:math:`\\mathrm{diag}(GH)^{-1}Gy`) and :func:`~sionna.phy.mimo.zf_equalizer` reduce to
    :math:`\\hat x = y/h'`, :math:`\\sigma^2_\\mathrm{eff} = s/|h'|^2` (unit-energy units).
    """
    data = info.layout.data_indices.to(received.device)
    y = received[:, data].to(torch.complex64)
    sq = math.sqrt(info.es)
    h_hat, err = estimate_channel(received, info)
    h = h_hat[:, data] * sq
    s = info.no + err[:, data] * info.es
    h2 = h.real.square() + h.imag.square()
    ok = h2 > 0
    safe_h = torch.where(ok, h, torch.ones_like(h))
    x_hat = torch.where(ok, y / safe_h, torch.zeros_like(y))
    no_eff = torch.where(ok, s / torch.where(ok, h2, torch.ones_like(h2)), torch.full_like(h2, float("inf")))
    return x_hat, no_eff


def equalize(received: torch.Tensor, side_info: SideInfo, equalizer: str = "lmmse", *, backend: str = "scalar"
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """Unbiased estimates of the transmitted data symbols and their effective noise variance.

    Input
    -----
    received : [B, n_uses], complex
    side_info : SideInfo
    equalizer : "lmmse" | "zf"
        Sionna's LMMSE (unbiased, ``diag(GH)^{-1} G y``) or ZF equaliser. For this single-antenna link the two
        coincide (:math:`\\hat x = y/h`, :math:`\\sigma^2_\\mathrm{eff} = (N_0 + \\sigma^2_e E_s)/|h|^2`); the
        analog latent's minimum-MSE estimate is :func:`recover` with ``"mmse"``.
    backend : "scalar" | "sionna"
        ``"sionna"`` runs Sionna's :class:`~sionna.phy.ofdm.LMMSEEqualizer` / :class:`~sionna.phy.ofdm.ZFEqualizer`
        on the resource grid (batched 1x1 matrix algebra, slow on CPU); ``"scalar"`` (default) evaluates the same
        expressions in closed form, about 20x faster (the tests check both agree).

    Output
    ------
    x_hat : [B, n_data], complex64
        Estimates of the data symbols as transmitted (energy ``es``).
    no_eff : [B, n_data], float32
        Effective noise variance of each estimate (same units), including channel-estimation errors.
    """
    if equalizer not in EQUALIZERS:
        raise ChannelParameterError(f"unknown equalizer {quote(equalizer, 40)}; use one of {', '.join(EQUALIZERS)}")
    if backend not in ("scalar", "sionna"):
        raise ChannelParameterError(f"unknown backend {quote(backend, 40)}; use 'scalar' or 'sionna'")
    _check(received, side_info)
    sq = math.sqrt(side_info.es)
    if backend == "scalar":
        x_hat, no_eff = _equalize_scalar(received, side_info)
        return x_hat * sq, no_eff * side_info.es
    b, lay = received.shape[0], side_info.layout
    blocks = _blocks(lay, _sionna_device(received.device))
    y, h_eff, err = _effective_channel(received, side_info, blocks)
    no = torch.tensor(side_info.no, dtype=torch.float32, device=received.device)
    eq = blocks.lmmse if equalizer == "lmmse" else blocks.zf
    x_hat, no_eff = eq(y, h_eff, err, no)  # (B', 1, 1, data REs per grid), unit-energy units
    x_hat = x_hat.reshape(b, -1)[:, : lay.n_data]
    no_eff = no_eff.reshape(b, -1)[:, : lay.n_data]
    return x_hat * sq, no_eff * side_info.es


def recover(received: torch.Tensor, side_info: SideInfo, equalizer: str = "mmse", *, backend: str = "scalar",
            rescale: bool = False) -> torch.Tensor:
    """Estimate the real-valued messages (inverse of the emulator's pairing).

    Input
    -----
    received : [B, n_uses], complex
    side_info : SideInfo
    equalizer : "mmse" | "zf" | "none"
        ``"mmse"``: :math:`E_s/(E_s+\\sigma^2_\\mathrm{eff})` times Sionna's unbiased LMMSE estimate;
        ``"zf"``: Sionna's ZF estimate; ``"none"``: the received data symbols as they are.
    backend : "scalar" | "sionna"
        See :func:`equalize`.
    rescale : bool
        Multiply each message by the gain header ``side_info.tx_gain`` (the amplitude the transmitter's power
        normalisation removed), so the estimate has the message's original norm. Needs the header.

    Output
    ------
    x_hat : [B, k], float32
        Estimate of the transmitted real-valued message: power-normalised, or at its original scale with
        ``rescale``.
    """
    if equalizer not in RECOVER_EQUALIZERS:
        raise ChannelParameterError(f"unknown equalizer {quote(equalizer, 40)}; use one of {', '.join(RECOVER_EQUALIZERS)}")
    if equalizer == "none":
        _check(received, side_info)
        z = received[:, side_info.layout.data_indices.to(received.device)].to(torch.complex64)
    elif equalizer == "zf":
        z, _ = equalize(received, side_info, "zf", backend=backend)
    else:
        z, no_eff = equalize(received, side_info, "lmmse", backend=backend)
        z = z * (side_info.es / (side_info.es + no_eff))
    x_hat = complex_to_real(z)
    if rescale:
        if side_info.tx_gain is None:
            raise ChannelParameterError("rescale needs the gain header (side_info.tx_gain), which this message "
                                        "did not carry")
        gain = side_info.tx_gain.to(x_hat.device, x_hat.dtype)
        if gain.shape != (x_hat.shape[0],):
            raise ChannelParameterError(f"gain header has {tuple(gain.shape)} values for {x_hat.shape[0]} messages")
        x_hat = x_hat * gain.unsqueeze(1)
    return x_hat
