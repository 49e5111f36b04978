r"""Channel coefficients per resource element, on Sionna's fading generators (seeded per request).

* Block / fast Rayleigh: :class:`~sionna.phy.channel.RayleighBlockFading` draws one :math:`\mathcal{CN}(0,1)`
  coefficient per coherence block (``coherence`` channel uses; the whole message when None; 1 = fast fading).
* Rician (Sionna has no flat Rician block): :math:`h = \sqrt{K/(K+1)}e^{j\phi} + \sqrt{1/(K+1)}\,g` with the
  scattered part :math:`g` from the Rayleigh generator above and the line-of-sight phase :math:`\phi` uniform per
  message, so :math:`E|h|^2 = 1` and :math:`|h|` is Rician with factor K.
* Time-correlated (Doppler) flat fading: Sionna's TR 38.901 TDL sum-of-sinusoids generator (Jakes spectrum,
  autocorrelation :math:`J_0(2\pi f_D \tau)`) reduced to a single zero-delay tap (:class:`FlatSoSFading`), with a
  specular line-of-sight component for Rician fading (Sionna's TDL LoS model).
* Multipath: Sionna's :class:`~sionna.phy.channel.tr38901.TDL` profiles turned into OFDM frequency responses by
  :class:`~sionna.phy.channel.GenerateOFDMChannel` (one coefficient per subcarrier and OFDM symbol).

Every generator draws from the request's local :class:`torch.Generator` (:class:`channel_emulator.rng.LocalRNG`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

import torch
from sionna.phy.channel import GenerateOFDMChannel, RayleighBlockFading
from sionna.phy.channel.tr38901 import TDL

from channel_emulator.config import ChannelConfig
from channel_emulator.rng import LocalRNG, sionna_device
from shared.channel.csi import FrameLayout
from shared.channel.errors import ChannelParameterError

__all__ = [
    "FlatSoSFading",
    "SeededRayleighBlockFading",
    "SeededTDL",
    "generate_channel",
    "tdl_cp_length",
    "tdl_max_delay_s",
]



class SeededRayleighBlockFading(LocalRNG, RayleighBlockFading):
    """Sionna's Rayleigh block fading drawing from a per-call generator."""


class SeededTDL(LocalRNG, TDL):
    """Sionna's TDL model drawing from a per-call generator."""


class FlatSoSFading(LocalRNG, TDL):
    """Flat time-correlated fading: Sionna's TDL sum-of-sinusoids generator with a single zero-delay tap.

    Parameters
    ----------
    k_factor : float or None
        Linear Rician K-factor of the tap (None or 0: Rayleigh). The specular part carries ``K/(K+1)`` of the
        power, the scattered part ``1/(K+1)``.
    carrier_frequency : float
        Carrier frequency [Hz].
    speed : float
        Terminal speed [m/s] (maximum Doppler ``speed * carrier_frequency / c``).
    num_sinusoids : int
        Sinusoids of the generator (Sionna's default 20).
    device : str
        Sionna device string.

    Input / output as :class:`~sionna.phy.channel.tr38901.TDL` (``num_paths = 1``).
    """

    def __init__(self, k_factor: Optional[float], carrier_frequency: float, speed: float,
                 num_sinusoids: int = 20, device: Optional[str] = None) -> None:
        object.__setattr__(self, "_flat_k", None if not k_factor else float(k_factor))
        # model "A" only passes TDL's name check; _load_parameters below replaces the profile by one tap
        super().__init__(model="A", delay_spread=1e-9, carrier_frequency=carrier_frequency,
                         num_sinusoids=num_sinusoids, min_speed=speed, max_speed=speed, device=device)

    def _load_parameters(self, fname: str, fixed_profile: bool) -> None:  # overrides TDL's JSON loader
        k = self.__dict__["_flat_k"]
        self._los = k is not None
        self._scale_delays = True
        self._num_clusters = 1
        self._delays = torch.zeros(1, dtype=self.dtype, device=self.device)
        if self._los:
            self._los_power = torch.tensor(k / (k + 1.0), dtype=self.cdtype, device=self.device)
            self._mean_powers = torch.full((1,), 1.0 / (k + 1.0), dtype=self.cdtype, device=self.device)
        else:
            self._mean_powers = torch.ones(1, dtype=self.cdtype, device=self.device)


@dataclass(frozen=True)
class _GridSpec:
    """The few resource-grid attributes :class:`GenerateOFDMChannel` reads."""

    num_ofdm_symbols: int
    fft_size: int
    subcarrier_spacing: float
    cyclic_prefix_length: int

    @property
    def ofdm_symbol_duration(self) -> float:
        return (1.0 + self.cyclic_prefix_length / self.fft_size) / self.subcarrier_spacing


@lru_cache(maxsize=8)
def _rayleigh(device: str) -> SeededRayleighBlockFading:
    return SeededRayleighBlockFading(num_rx=1, num_rx_ant=1, num_tx=1, num_tx_ant=1, device=device)


@lru_cache(maxsize=32)
def _flat_sos(k_factor: Optional[float], carrier_frequency: float, speed: float, device: str) -> FlatSoSFading:
    return FlatSoSFading(k_factor, carrier_frequency, speed, device=device)


@lru_cache(maxsize=32)
def _tdl(profile: str, delay_spread: float, carrier_frequency: float, speed: float, device: str) -> SeededTDL:
    fixed = profile not in ("A", "B", "C", "D", "E")
    return SeededTDL(model=profile, delay_spread=None if fixed else delay_spread,
                     carrier_frequency=carrier_frequency, min_speed=speed, max_speed=speed, device=device)


@lru_cache(maxsize=32)
def _ofdm_generator(profile: str, delay_spread: float, carrier_frequency: float, speed: float, n_slots: int,
                    fft_size: int, spacing: float, cp_length: int, device: str) -> GenerateOFDMChannel:
    grid = _GridSpec(n_slots, fft_size, spacing, cp_length)
    tdl = _tdl(profile, delay_spread, carrier_frequency, speed, device)
    return GenerateOFDMChannel(tdl, grid, normalize_channel=False, device=device)


def tdl_max_delay_s(cfg: ChannelConfig) -> float:
    """Largest path delay [s] of the configured TDL profile."""
    tdl = _tdl(cfg.tdl_profile, cfg.delay_spread_s, cfg.carrier_frequency_hz, cfg.speed_mps, "cpu")
    return float(tdl.delays.max())


def tdl_cp_length(cfg: ChannelConfig) -> int:
    """Cyclic prefix in samples for ``cfg``: the configured one, or the shortest that covers the largest delay.

    Raises
    ------
    ChannelParameterError
        A configured cyclic prefix shorter than the largest path delay (the frequency-domain model would hide
        the inter-symbol interference), or a needed one longer than the FFT.
    """
    sample = 1.0 / (cfg.fft_size * cfg.subcarrier_spacing_hz)
    needed = math.ceil(tdl_max_delay_s(cfg) / sample - 1e-6)
    if cfg.cp_length is None:
        if needed > cfg.fft_size:
            raise ChannelParameterError(f"the TDL delays need a cyclic prefix of {needed} samples, longer than the "
                                        f"FFT ({cfg.fft_size}); raise fft_size or subcarrier_spacing_hz")
        return needed
    if cfg.cp_length < needed:
        raise ChannelParameterError(f"cp_length {cfg.cp_length} is shorter than the largest TDL path delay "
                                    f"({needed} samples); the OFDM model would neglect inter-symbol interference")
    return cfg.cp_length


def generate_channel(cfg: ChannelConfig, layout: FrameLayout, batch: int, generator: torch.Generator,
                     device: torch.device | str) -> Optional[torch.Tensor]:
    """Channel coefficient at every resource element of ``batch`` frames.

    Input
    -----
    cfg : ChannelConfig
    layout : FrameLayout
        Frame layout (``n_slots`` x ``n_subcarriers`` resource elements, time-major).
    batch : int
        Number of messages; each gets its own realisation.
    generator : torch.Generator
        Local generator on ``device``.
    device : torch.device or str

    Output
    ------
    h : [batch, layout.n_uses], complex64, or None for AWGN (h = 1)
    """
    if cfg.model == "awgn":
        return None
    dev = sionna_device(device)
    n_slots, n_sc = layout.n_slots, layout.n_subcarriers

    if cfg.model == "tdl":
        gen = _ofdm_generator(cfg.tdl_profile, cfg.delay_spread_s, cfg.carrier_frequency_hz, cfg.speed_mps,
                              n_slots, n_sc, cfg.subcarrier_spacing_hz, layout.cp_length, dev)
        tdl = _tdl(cfg.tdl_profile, cfg.delay_spread_s, cfg.carrier_frequency_hz, cfg.speed_mps, dev)
        with tdl.using(generator):
            h_freq = gen(batch)  # (B, 1, 1, 1, 1, n_slots, n_sc)
        return h_freq.reshape(batch, n_slots * n_sc).to(torch.complex64)

    if cfg.time_varying:
        sos = _flat_sos(cfg.k_factor if cfg.model == "rician" else None, cfg.carrier_frequency_hz, cfg.speed_mps, dev)
        with sos.using(generator):
            a, _ = sos(batch, n_slots, cfg.symbol_rate_hz)  # (B, 1, 1, 1, 1, 1, n_slots)
        return a.reshape(batch, n_slots).to(torch.complex64)

    # block / fast fading: one coefficient per coherence block of `coherence` slots
    block = cfg.coherence or n_slots
    n_blocks = -(-n_slots // block)
    ray = _rayleigh(dev)
    with ray.using(generator):
        a, _ = ray(batch * n_blocks, 1)  # (B*n_blocks, 1, 1, 1, 1, 1, 1)
    g = a.reshape(batch, n_blocks)
    if n_blocks == 1:
        g = g.expand(batch, n_slots)
    elif block > 1:
        g = g.repeat_interleave(block, dim=1)[:, :n_slots]
    if cfg.model == "rician":
        k = cfg.k_factor
        phi = (torch.rand(batch, 1, generator=generator, device=g.device) * 2.0 - 1.0) * math.pi
        los = torch.polar(torch.full_like(phi, math.sqrt(k / (k + 1.0))), phi)
        g = los + math.sqrt(1.0 / (k + 1.0)) * g
    return g.to(torch.complex64)
