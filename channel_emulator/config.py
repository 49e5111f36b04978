r"""Channel parameters of one request: :class:`ChannelConfig`, validated with clear errors.

Models (``model``)
------------------
``"awgn"``
    :math:`y = x + n`, :math:`n \sim \mathcal{CN}(0, N_0)`.
``"rayleigh"``
    Flat Rayleigh fading :math:`y = h x + n`, :math:`h \sim \mathcal{CN}(0, 1)`. Time variation:
    ``coherence=None`` one :math:`h` per message (block fading over the whole message, as DeepJSCC);
    ``coherence=N`` a new :math:`h` every ``N`` channel uses; ``coherence=1`` fast (per-symbol) fading;
    ``doppler_hz`` / ``speed_kmh``: time-correlated fading (Sionna's sum-of-sinusoids generator, Jakes spectrum)
    sampled at ``symbol_rate_hz``.
``"rician"``
    Flat Rician fading with K-factor ``k_factor_db``:
    :math:`h = \sqrt{K/(K+1)}\,e^{j\phi} + \sqrt{1/(K+1)}\,g`, :math:`g \sim \mathcal{CN}(0,1)`,
    :math:`E|h|^2 = 1`; the line-of-sight phase :math:`\phi` is uniform per message, the scattered part :math:`g`
    follows the same time-variation options as ``"rayleigh"``.
``"tdl"``
    Multipath: a 3GPP TR 38.901 TDL profile (Sionna's :class:`~sionna.phy.channel.tr38901.TDL`) seen through
    OFDM with ``fft_size`` subcarriers, spacing ``subcarrier_spacing_hz`` and a cyclic prefix of ``cp_length``
    samples. The frequency-domain model :math:`y_{s,f} = h_{s,f} x_{s,f} + n_{s,f}` is exact when the cyclic
    prefix covers the largest path delay (checked) and the channel does not change within an OFDM symbol
    (inter-carrier interference is neglected; the Doppler shift must stay below 10 % of the subcarrier spacing).

The SNR is :math:`E_s/N_0` with :math:`E_s = P` (``power``) the nominal energy per transmitted complex symbol;
:math:`N_0 = P\cdot 10^{-\mathrm{SNR}/10}`.

Power (``power_mode``)
----------------------
``"equal"`` (default) scales every message to an average energy of exactly ``power`` per complex data symbol
(eq. 4 of the paper with equality; per real value the energy is ``power/2``). ``"max"`` only scales down
messages whose average energy exceeds ``power`` (eq. 4 as an inequality).

CSI (``csi``)
-------------
``"perfect"`` (default): the receiver gets the true channel. ``"ls"``: pilots are inserted and the receiver
estimates the channel by least squares: ``pilots`` pilot symbols (default 4) at the start of every coherence
block for block fading (``coherence`` counts pilots: a block of ``N`` uses carries ``N - pilots`` data symbols);
for time-varying channels (Doppler, TDL) ``pilots`` (default 1) pilot slots every ``pilot_spacing`` slots
(default 16 symbols single-carrier, 8 OFDM symbols) plus a closing pilot group, with linear interpolation
in between. Fast fading (``coherence=1``) cannot be estimated from pilots. ``"none"``: no channel knowledge.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Mapping, Optional

from shared.channel.csi import CSI_MODES
from shared.channel.errors import ChannelParameterError
from shared.errors import quote
from shared.channel.limits import check_k_factor_db, check_range, check_snr_db

__all__ = ["MODELS", "POWER_MODES", "TDL_PROFILES", "SPEED_OF_LIGHT", "ChannelConfig", "as_config"]

MODELS: tuple[str, ...] = ("awgn", "rayleigh", "rician", "tdl")
POWER_MODES: tuple[str, ...] = ("equal", "max")
#: TDL profiles Sionna ships (scalable A-E need ``delay_spread_s``; the others have fixed delays).
TDL_PROFILES: tuple[str, ...] = ("A", "B", "C", "D", "E", "A10", "A30", "B100", "C60", "C300", "D10", "D30")
_FIXED_DS = {"A10": 10e-9, "A30": 30e-9, "B100": 100e-9, "C60": 60e-9, "C300": 300e-9, "D10": 10e-9, "D30": 30e-9}
SPEED_OF_LIGHT = 299_792_458.0
_MAX_COHERENCE = 1 << 30
_MAX_FFT = 4096


def _int_param(name: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ChannelParameterError(f"{name} must be an integer, got {quote(value, 40)}")
    if not lo <= value <= hi:
        raise ChannelParameterError(f"{name} {value} is outside [{lo}, {hi}]")
    return int(value)


@dataclass(frozen=True, kw_only=True)
class ChannelConfig:
    """Parameters of one channel realisation request (see the module docstring for their meaning).

    Parameters
    ----------
    model : "awgn" | "rayleigh" | "rician" | "tdl"
    snr_db : float
        :math:`E_s/N_0` in dB, within :data:`shared.channel.limits.SNR_RANGE_DB`.
    k_factor_db : float, optional
        Rician K-factor in dB (required for ``"rician"``, rejected otherwise).
    coherence : int, optional
        Coherence length in channel uses for ``"rayleigh"``/``"rician"`` block fading (None: whole message,
        1: fast fading).
    doppler_hz, speed_kmh : float, optional
        Maximum Doppler shift, or the speed it follows from (``f_D = v f_c / c``); selects time-correlated fading
        (``"rayleigh"``/``"rician"``) or mobility (``"tdl"``). At most one of them.
    carrier_frequency_hz : float
        Carrier frequency (Doppler from speed; TDL). Default 3.5 GHz.
    symbol_rate_hz : float
        Single-carrier symbol rate: the time step of time-correlated fading. Default 1 MHz.
    tdl_profile : str
        TDL profile for ``"tdl"`` (one of :data:`TDL_PROFILES`). Default ``"A"``.
    delay_spread_s : float, optional
        RMS delay spread for the scalable profiles A-E (default 100 ns).
    fft_size : int
        OFDM subcarriers for ``"tdl"`` (default 64).
    subcarrier_spacing_hz : float
        OFDM subcarrier spacing for ``"tdl"`` (default 30 kHz).
    cp_length : int, optional
        Cyclic prefix in samples for ``"tdl"``; default: the shortest that covers the largest path delay.
    csi : "perfect" | "ls" | "none"
        Channel knowledge at the receiver.
    pilots : int, optional
        Pilot slots per pilot group (``csi="ls"`` only).
    pilot_spacing : int, optional
        Slots per pilot period for time-varying channels (``csi="ls"`` with Doppler or TDL only).
    power : float
        Average energy P per complex symbol (> 0). Default 1.
    power_mode : "equal" | "max"
        Normalise each message to exactly P, or only cap it at P.
    seed : int, optional
        Default seed (the ``seed`` argument of :func:`channel_emulator.link.apply_channel` overrides it).
    """

    model: str = "awgn"
    snr_db: float
    k_factor_db: Optional[float] = None
    coherence: Optional[int] = None
    doppler_hz: Optional[float] = None
    speed_kmh: Optional[float] = None
    carrier_frequency_hz: float = 3.5e9
    symbol_rate_hz: float = 1e6
    tdl_profile: str = "A"
    delay_spread_s: Optional[float] = None
    fft_size: int = 64
    subcarrier_spacing_hz: float = 30e3
    cp_length: Optional[int] = None
    csi: str = "perfect"
    pilots: Optional[int] = None
    pilot_spacing: Optional[int] = None
    power: float = 1.0
    power_mode: str = "equal"
    seed: Optional[int] = None

    # ------------------------------------------------------------------ validation
    def __post_init__(self) -> None:  # noqa: C901 - one place for all parameter rules
        set_ = lambda name, v: object.__setattr__(self, name, v)  # noqa: E731
        if not isinstance(self.model, str) or self.model.lower() not in MODELS:
            raise ChannelParameterError(f"unknown channel model {quote(self.model, 40)}; use one of {', '.join(MODELS)}")
        set_("model", self.model.lower())
        set_("snr_db", check_snr_db(self.snr_db))
        model = self.model
        fading = model in ("rayleigh", "rician")

        # K-factor
        if model == "rician":
            if self.k_factor_db is None:
                raise ChannelParameterError("model 'rician' needs k_factor_db (the K-factor in dB)")
            set_("k_factor_db", check_k_factor_db(self.k_factor_db))
        elif self.k_factor_db is not None:
            raise ChannelParameterError(f"k_factor_db only applies to model 'rician', not {quote(model, 40)}")

        # time variation
        if self.doppler_hz is not None and self.speed_kmh is not None:
            raise ChannelParameterError("give doppler_hz or speed_kmh, not both")
        mobile = self.doppler_hz is not None or self.speed_kmh is not None
        if self.doppler_hz is not None:
            set_("doppler_hz", check_range(self.doppler_hz, "doppler_hz", 0.0, 1e6, " Hz"))
        if self.speed_kmh is not None:
            set_("speed_kmh", check_range(self.speed_kmh, "speed_kmh", 0.0, 1e4, " km/h"))
        if mobile and not (fading or model == "tdl"):
            raise ChannelParameterError(f"doppler_hz/speed_kmh do not apply to model {quote(model, 40)}")
        if self.coherence is not None:
            if not fading:
                raise ChannelParameterError(f"coherence only applies to models 'rayleigh' and 'rician', not {quote(model, 40)}")
            if mobile:
                raise ChannelParameterError("coherence (block fading) and doppler_hz/speed_kmh (time-correlated "
                                            "fading) exclude each other")
            set_("coherence", _int_param("coherence", self.coherence, 1, _MAX_COHERENCE))
        set_("carrier_frequency_hz", check_range(self.carrier_frequency_hz, "carrier_frequency_hz", 1e6, 1e12, " Hz"))
        set_("symbol_rate_hz", check_range(self.symbol_rate_hz, "symbol_rate_hz", 1.0, 1e12, " Hz"))
        if self.symbol_rate_hz != 1e6 and not (fading and mobile):
            raise ChannelParameterError("symbol_rate_hz only applies to time-correlated 'rayleigh'/'rician' fading")

        # TDL / OFDM
        if model == "tdl":
            if self.tdl_profile not in TDL_PROFILES:
                raise ChannelParameterError(f"unknown TDL profile {quote(self.tdl_profile, 40)}; use one of {TDL_PROFILES}")
            if self.tdl_profile in _FIXED_DS:
                if self.delay_spread_s is not None and not math.isclose(self.delay_spread_s,
                                                                         _FIXED_DS[self.tdl_profile]):
                    raise ChannelParameterError(f"TDL profile {self.tdl_profile} has a fixed delay spread of "
                                                f"{_FIXED_DS[self.tdl_profile] * 1e9:g} ns")
                set_("delay_spread_s", _FIXED_DS[self.tdl_profile])
            elif self.delay_spread_s is None:
                set_("delay_spread_s", 100e-9)
            set_("delay_spread_s", check_range(self.delay_spread_s, "delay_spread_s", 1e-10, 1e-4, " s"))
            set_("fft_size", _int_param("fft_size", self.fft_size, 1, _MAX_FFT))
            set_("subcarrier_spacing_hz",
                 check_range(self.subcarrier_spacing_hz, "subcarrier_spacing_hz", 1e3, 1e7, " Hz"))
            if self.cp_length is not None:
                set_("cp_length", _int_param("cp_length", self.cp_length, 0, self.fft_size))
            if self.max_doppler_hz > 0.1 * self.subcarrier_spacing_hz:
                raise ChannelParameterError(
                    f"Doppler shift {self.max_doppler_hz:g} Hz exceeds 10 % of the subcarrier spacing "
                    f"({self.subcarrier_spacing_hz:g} Hz): the OFDM model would neglect strong inter-carrier "
                    "interference")
        else:
            for name, default in (("tdl_profile", "A"), ("delay_spread_s", None), ("fft_size", 64),
                                  ("subcarrier_spacing_hz", 30e3), ("cp_length", None)):
                if getattr(self, name) != default:
                    raise ChannelParameterError(f"{name} only applies to model 'tdl', not {quote(model, 40)}")

        # CSI and pilots
        if not isinstance(self.csi, str) or self.csi.lower() not in CSI_MODES:
            raise ChannelParameterError(f"unknown CSI mode {quote(self.csi, 40)}; use one of {', '.join(CSI_MODES)}")
        set_("csi", self.csi.lower())
        if self.csi != "ls":
            if self.pilots is not None or self.pilot_spacing is not None:
                raise ChannelParameterError("pilots/pilot_spacing only apply with csi='ls'")
        else:
            if self.pilots is not None:
                set_("pilots", _int_param("pilots", self.pilots, 1, 1 << 16))
            if self.pilot_spacing is not None:
                if not self.time_varying:
                    raise ChannelParameterError(
                        "pilot_spacing applies to time-varying channels (doppler_hz/speed_kmh or 'tdl'); with block "
                        "fading the pilots open every coherence block")
                set_("pilot_spacing", _int_param("pilot_spacing", self.pilot_spacing, 2, 1 << 20))
                if self.pilot_spacing <= self.resolved_pilots:
                    raise ChannelParameterError(f"pilot_spacing {self.pilot_spacing} leaves no room for data after "
                                                f"{self.resolved_pilots} pilot slots")
            if self.coherence == 1:
                raise ChannelParameterError("LS channel estimation cannot track fast fading (coherence=1): every "
                                            "symbol sees a new channel; use csi='perfect' or 'none'")
            if self.coherence is not None and self.coherence <= self.resolved_pilots:
                raise ChannelParameterError(
                    f"coherence {self.coherence} leaves no room for data after {self.resolved_pilots} pilots per "
                    "coherence block")

        # power
        set_("power", check_range(self.power, "power", 1e-12, 1e12))
        if not isinstance(self.power_mode, str) or self.power_mode.lower() not in POWER_MODES:
            raise ChannelParameterError(f"unknown power_mode {quote(self.power_mode, 40)}; use one of {POWER_MODES}")
        set_("power_mode", self.power_mode.lower())
        if self.seed is not None:
            set_("seed", _int_param("seed", self.seed, 0, (1 << 63) - 1))

    # ------------------------------------------------------------------ derived values
    @property
    def no(self) -> float:
        """Noise power :math:`N_0 = P / 10^{SNR/10}` per complex channel use."""
        return self.power * 10.0 ** (-self.snr_db / 10.0)

    @property
    def max_doppler_hz(self) -> float:
        """Maximum Doppler shift in Hz (0 when static)."""
        if self.doppler_hz is not None:
            return float(self.doppler_hz)
        if self.speed_kmh is not None:
            return self.speed_kmh / 3.6 * self.carrier_frequency_hz / SPEED_OF_LIGHT
        return 0.0

    @property
    def speed_mps(self) -> float:
        """Speed in m/s that produces :attr:`max_doppler_hz` at the carrier frequency."""
        return self.max_doppler_hz * SPEED_OF_LIGHT / self.carrier_frequency_hz

    @property
    def time_varying(self) -> bool:
        """True for time-correlated fading and TDL (pilots interpolated), False for static/block fading."""
        return self.model == "tdl" or (self.model in ("rayleigh", "rician")
                                       and (self.doppler_hz is not None or self.speed_kmh is not None))

    @property
    def k_factor(self) -> Optional[float]:
        """Linear K-factor (``"rician"`` only)."""
        return None if self.k_factor_db is None else 10.0 ** (self.k_factor_db / 10.0)

    @property
    def resolved_pilots(self) -> int:
        """Pilot slots per group (0 without LS)."""
        if self.csi != "ls":
            return 0
        if self.pilots is not None:
            return self.pilots
        return 1 if self.time_varying else 4

    @property
    def resolved_pilot_spacing(self) -> int:
        """Slots per pilot period for time-varying channels."""
        if self.pilot_spacing is not None:
            return self.pilot_spacing
        return 8 if self.model == "tdl" else 16

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        """Plain dict of all fields (JSON-ready)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ChannelConfig":
        """Build from a mapping (e.g. a decoded request); unknown keys raise :class:`ChannelParameterError`."""
        if not isinstance(d, Mapping):
            raise ChannelParameterError(f"channel parameters must be a mapping, got {type(d).__name__}")
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(d) - set(known))
        if unknown:
            raise ChannelParameterError(f"unknown channel parameter(s) {unknown}; known: {', '.join(known)}")
        if "snr_db" not in d:
            raise ChannelParameterError("missing channel parameter 'snr_db'")
        return cls(**dict(d))

    def replace(self, **changes: Any) -> "ChannelConfig":
        """A validated copy with ``changes`` applied (unknown names raise :class:`ChannelParameterError`)."""
        return ChannelConfig.from_dict({**self.to_dict(), **changes})


def as_config(config: "ChannelConfig | Mapping[str, Any]") -> ChannelConfig:
    """Accept a :class:`ChannelConfig` or a plain mapping of its fields."""
    if isinstance(config, ChannelConfig):
        return config
    return ChannelConfig.from_dict(config)
