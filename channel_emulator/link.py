r"""The emulator's entry point: real latents in, received symbols plus side information out.

.. code-block:: python

    from channel_emulator.config import ChannelConfig
    from channel_emulator.link import apply_channel
    out = apply_channel(x, ChannelConfig(model="awgn", snr_db=18.0), seed=0)   # x: (B, k) real, k even
    out.received    # (B, n_uses) complex: data + pilots (+ OFDM padding) as laid out in out.side_info.layout
    out.side_info   # shared.channel.csi.SideInfo for the receiver
    out.report      # measured Es/N0, mean |h|^2, channel uses, power scale, ...

Steps: pair the ``k`` reals into ``k/2`` complex symbols (:mod:`shared.channel.pairing`), normalise each message's
power (:mod:`channel_emulator.power`), build the frame with pilots (:mod:`channel_emulator.framing`), draw the
channel (:mod:`channel_emulator.fading`) and the noise (:mod:`channel_emulator.awgn`):
:math:`y = h \odot s + n`.

Reproducibility: the output is a pure function of (message batch, parameters, seed) for a given device; the fading
and the noise use separate generators derived from the seed, so two SNRs with one seed share the fading and the
noise pattern (common random numbers). Every message of a batch gets its own fading realisation. Identical seeds
give bit-identical output on CPU; CPU and CUDA streams differ from each other.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any, Mapping, Optional

import torch

from channel_emulator.awgn import add_awgn
from channel_emulator.config import ChannelConfig, as_config
from channel_emulator.fading import generate_channel
from channel_emulator.framing import assemble_frame, build_layout
from channel_emulator.power import normalize_power_real
from channel_emulator.rng import STREAM_FADING, STREAM_NOISE, derive_seed, make_generator, resolve_seed
from shared.channel.csi import FrameLayout, SideInfo
from shared.channel.errors import ChannelParameterError
from shared.channel.pairing import real_to_complex

__all__ = ["ChannelOutput", "apply_channel", "transmit_symbols", "MAX_USES_PER_CALL"]

#: Upper bound on ``batch * n_uses`` per call (about 0.5 GiB of complex64 working memory).
MAX_USES_PER_CALL = 1 << 26


def _db(x: float) -> float:
    return 10.0 * math.log10(x) if x > 0 else float("-inf")


@dataclass
class ChannelOutput:
    """Result of one pass through the channel.

    Attributes
    ----------
    received : [B, n_uses], complex64
        Received resource elements (data + pilots + padding, see ``side_info.layout``).
    side_info : SideInfo
        What the receiver gets besides ``received``.
    transmitted : [B, n_uses], complex64
        The frames as sent (emulator-side, for measurements; not for the receiver).
    channel : [B, n_uses], complex64 or None
        True channel (None for AWGN, i.e. h = 1; emulator-side).
    power_scale : [B], float32
        Per-message power-normalisation factor; the receiver learns its inverse only through the 16-bit header
        ``side_info.tx_gain`` (:func:`gain_header`).
    config : ChannelConfig
    seed : int
        The seed used (drawn at random and reported when none was given).
    report : dict
        Measurements, computed on first access (see :meth:`_make_report`).
    """

    received: torch.Tensor
    side_info: SideInfo
    transmitted: torch.Tensor
    channel: Optional[torch.Tensor]
    power_scale: torch.Tensor
    config: ChannelConfig
    seed: int

    @cached_property
    def report(self) -> dict[str, Any]:
        """Measured statistics of this realisation (plain Python values, JSON-ready)."""
        return self._make_report()

    def noise(self) -> torch.Tensor:
        """The noise realisation ``received - h * transmitted`` (B, n_uses)."""
        hs = self.transmitted if self.channel is None else self.channel * self.transmitted
        return self.received - hs

    def _make_report(self) -> dict[str, Any]:
        cfg, lay, info = self.config, self.side_info.layout, self.side_info
        s, n = self.transmitted, self.noise()
        s2 = torch.view_as_real(s).square().sum(-1)  # (B, n_uses) |s|^2
        n2 = torch.view_as_real(n).square().sum(-1)
        if lay.n_pad:  # padding REs carry no energy: measure Es on the resource elements actually used
            used = torch.ones(lay.n_uses, dtype=torch.bool, device=s.device)
            used[torch.nonzero(~lay.pilot_mask, as_tuple=False).flatten()[lay.n_data:].to(s.device)] = False
        else:
            used = slice(None)
        stats = [s2[:, used].mean(), s2[:, lay.data_indices.to(s.device)].mean(), n2.mean()]
        if self.channel is not None:
            h2 = torch.view_as_real(self.channel).square().sum(-1)
            stats += [h2.mean(), (h2 * s2)[:, used].mean()]
        scale = self.power_scale.float()
        stats += [scale.mean(), scale.min(), scale.max()]
        vals = torch.stack(stats).double().tolist()  # one transfer
        es, es_data, no = vals[0], vals[1], vals[2]
        if self.channel is None:
            mean_h2, rx_power = 1.0, es
        else:
            mean_h2, rx_power = vals[3], vals[4]
        scale_mean, scale_min, scale_max = vals[-3:]
        n_msgs = int(s.shape[0])
        return {
            "model": cfg.model,
            "csi": cfg.csi,
            "seed": self.seed,
            "snr_db": cfg.snr_db,
            "no": info.no,
            "es": info.es,
            "measured_es_n0_db": _db(es / no) if no > 0 else float("inf"),
            "measured_es_data_n0_db": _db(es_data / no) if no > 0 else float("inf"),
            "measured_no": no,
            "measured_es": es,
            "mean_h2": mean_h2,
            "received_snr_db": _db(rx_power / no) if no > 0 else float("inf"),
            "messages": n_msgs,
            "k": info.k,
            "channel_uses": lay.n_uses,
            "data_uses": lay.n_data,
            "pilot_uses": lay.n_pilot_uses,
            "pad_uses": lay.n_pad,
            "cp_samples": lay.n_cp,
            "pilot_overhead": lay.n_pilot_uses / lay.n_uses,
            "power_mode": cfg.power_mode,
            "power_scale_mean": scale_mean,
            "power_scale_min": scale_min,
            "power_scale_max": scale_max,
            "power_scale": self.power_scale.tolist() if n_msgs <= 64 else None,
            "max_doppler_hz": cfg.max_doppler_hz,
        }


_LAYOUTS: dict[tuple, FrameLayout] = {}


def _layout(cfg: ChannelConfig, n_data: int) -> FrameLayout:
    """:func:`build_layout`, cached on the fields the layout depends on (not the SNR or the seed)."""
    key = (cfg.model, cfg.csi, cfg.resolved_pilots, cfg.time_varying, cfg.coherence, n_data)
    if cfg.time_varying:
        key += (cfg.resolved_pilot_spacing,)
    if cfg.model == "tdl":
        key += (cfg.fft_size, cfg.cp_length, cfg.tdl_profile, cfg.delay_spread_s, cfg.subcarrier_spacing_hz)
    layout = _LAYOUTS.get(key)
    if layout is None:
        layout = build_layout(cfg, n_data)
        if len(_LAYOUTS) >= 512:
            _LAYOUTS.clear()
        _LAYOUTS[key] = layout
    return layout


@lru_cache(maxsize=256)
def _pilot_values(layout) -> torch.Tensor:
    return layout.pilot_values()


def _check_batch(x: torch.Tensor, what: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise ChannelParameterError(f"{what} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 2:
        raise ChannelParameterError(f"{what} must have shape (B, n), got {tuple(x.shape)}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ChannelParameterError(f"{what} is empty (shape {tuple(x.shape)})")


def gain_header(power_scale: torch.Tensor) -> torch.Tensor:
    """The per-message gain header: ``1 / power_scale`` rounded to float16 (what 16 bits carry), as float32 (B,).

    The transmitter knows how much its power normalisation shrank or grew each message; sending that one number
    (16 bits against 512 payload values) lets the receiver restore the message's norm (``recover(...,
    rescale=True)``), which a latent code needs and an image code does not.
    """
    g = 1.0 / power_scale.detach().float()
    return g.clamp(6.2e-5, 65504.0).to(torch.float16).float()                # (B,)


def apply_channel(x: torch.Tensor, config: ChannelConfig | Mapping[str, Any], seed: Optional[int] = None
                  ) -> ChannelOutput:
    """Send a batch of real-valued messages through the channel.

    Input
    -----
    x : [B, k], float32 (float64/float16 are cast to float32)
        Real-valued messages, ``k`` even; CPU or CUDA.
    config : ChannelConfig or mapping of its fields
    seed : int, optional
        Seed of this realisation (falls back to ``config.seed``, else a random seed that is reported).

    Output
    ------
    ChannelOutput
        ``received`` (B, n_uses) complex64, ``side_info``, ``report`` (lazy), plus emulator-side tensors.

    Raises
    ------
    ChannelParameterError
        Bad parameters, or a message that is empty, odd-length, non-finite, not 2-D, or has zero energy
        (``power_mode="equal"``).
    """
    cfg = as_config(config)
    _check_batch(x, "the message batch")
    if x.is_complex() or not x.is_floating_point():
        raise ChannelParameterError(f"messages must be real floating-point values, got dtype {x.dtype}")
    if x.shape[-1] % 2:
        raise ChannelParameterError(f"cannot pair an odd number of real values ({x.shape[-1]}) into complex symbols")
    if x.dtype != torch.float32:
        x = x.to(torch.float32)
    x_scaled, scale = normalize_power_real(x, cfg.power, cfg.power_mode)  # (B, k), (B,)
    # one cheap check on the (B,) scales: NaN/Inf in a message, a zero-energy message, or an overflow of |x|^2 in
    # float32 makes a scale non-finite or zero
    if not _scales_ok(scale):
        _diagnose_message(x, cfg)
        x64, scale64 = normalize_power_real(x.double(), cfg.power, cfg.power_mode)  # |x|^2 overflowed float32
        x_scaled, scale = x64.float(), scale64.float()
    z = real_to_complex(x_scaled, check_finite=False)  # (B, k/2): first half real, second half imaginary
    return _transmit(z, cfg, seed, scale)


def transmit_symbols(z: torch.Tensor, config: ChannelConfig | Mapping[str, Any], seed: Optional[int] = None
                     ) -> ChannelOutput:
    """Send complex symbols that are already at their transmit energy (no normalisation), e.g. QAM scaled by
    ``sqrt(power)`` in the digital link or the probe. ``side_info.k`` is ``2 * n``.

    Input
    -----
    z : [B, n], complex64
    config, seed : as :func:`apply_channel`

    Output
    ------
    ChannelOutput (``power_scale`` is all ones)
    """
    cfg = as_config(config)
    _check_batch(z, "the symbol batch")
    if not z.is_complex():
        raise ChannelParameterError(f"symbols must be complex, got dtype {z.dtype}")
    z = z.to(torch.complex64)
    if not bool(torch.isfinite(torch.view_as_real(z)).all()):
        raise ChannelParameterError("the symbols contain NaN or Inf values")
    return _transmit(z, cfg, seed, torch.ones(z.shape[0], dtype=torch.float32, device=z.device))


def _scales_ok(scale: torch.Tensor) -> bool:
    """All power scales finite and > 0 (a Python check for small batches: one transfer instead of four ops)."""
    if scale.shape[0] <= 64:
        return all(0.0 < v < math.inf for v in scale.tolist())
    return bool(((scale > 0) & torch.isfinite(scale)).all())


def _diagnose_message(x: torch.Tensor, cfg: ChannelConfig) -> None:
    """Raise the error that explains a non-finite power scale (returns when float64 can cope)."""
    if not bool(torch.isfinite(x).all()):
        raise ChannelParameterError("the message contains NaN or Inf values")
    if cfg.power_mode == "equal" and not bool((x != 0).any(dim=-1).all()):
        raise ChannelParameterError("a message has zero energy and cannot be normalised to the power budget")


_ONES: dict[torch.device, torch.Tensor] = {}


def _ones(device: torch.device) -> torch.Tensor:
    t = _ONES.get(device)
    if t is None:
        t = _ONES[device] = torch.ones(1, 1, dtype=torch.complex64, device=device)
    return t


def _transmit(z: torch.Tensor, cfg: ChannelConfig, seed: Optional[int], scale: torch.Tensor) -> ChannelOutput:
    seed = seed if seed is not None else cfg.seed
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0):
        raise ChannelParameterError(f"seed must be a non-negative integer, got {seed!r}")
    seed = resolve_seed(seed)
    batch, n_data = z.shape
    layout = _layout(cfg, n_data)
    if batch * layout.n_uses > MAX_USES_PER_CALL:
        raise ChannelParameterError(f"{batch} messages of {layout.n_uses} channel uses exceed the limit of "
                                    f"{MAX_USES_PER_CALL} uses per call; split the batch")
    device = z.device
    s = assemble_frame(z, layout, cfg.power)  # (B, n_uses)

    h = None
    if cfg.model != "awgn":
        g_fade = make_generator(derive_seed(seed, STREAM_FADING), device)
        h = generate_channel(cfg, layout, batch, g_fade, device)  # (B, n_uses)
    g_noise = make_generator(derive_seed(seed, STREAM_NOISE), device)
    y = add_awgn(s if h is None else h * s, cfg.no, g_noise)  # (B, n_uses)

    h_info = None
    if cfg.csi == "perfect":
        h_info = h if h is not None else _ones(device).expand(batch, layout.n_uses)
    info = SideInfo(
        snr_db=cfg.snr_db, no=cfg.no, es=cfg.power, csi=cfg.csi, layout=layout, k=2 * n_data, model=cfg.model,
        h=h_info, pilots=_pilot_values(layout).to(device) if cfg.csi == "ls" else None,
        tx_gain=gain_header(scale),
    )
    return ChannelOutput(received=y, side_info=info, transmitted=s, channel=h, power_scale=scale, config=cfg,
                         seed=seed)
