r"""The digital baseline link: bits -> 5G LDPC -> QAM -> channel -> soft demapping -> LDPC decoding -> bits.

Built on Sionna: :class:`~sionna.phy.fec.ldpc.LDPC5GEncoder` / :class:`~sionna.phy.fec.ldpc.LDPC5GDecoder`
(5G NR base graphs, rate matching and the QAM bit interleaver), :class:`~sionna.phy.mapping.Mapper` /
:class:`~sionna.phy.mapping.Demapper` (Gray QAM, APP demapping), and the emulator's channel
(:func:`channel_emulator.link.transmit_symbols`): the same models, CSI modes and pilots as the analog link.

Code-block segmentation follows the 5G idea without CRCs: a payload of ``n_info`` bits is split into ``C`` equal code
blocks of ``k_cb`` bits (zero filler bits complete the last one; they are encoded and sent, and reported), each
encoded to ``n_cb`` bits, a multiple of the bits per QAM symbol. ``C`` is the smallest number that Sionna's 5G code
supports (BG1: ``k <= 8448`` and rate >= 1/3; BG2: ``k <= 3840`` and rate >= 1/5; rate <= 948/1024). Block errors
are counted against the true bits (genie detection instead of a CRC).

Equalisation is the receiver's job and services never import each other, so :func:`run_digital_link` takes the
receiver's equaliser as an argument (``receiver.equalization.equalize``).

k-accounting: :func:`link_budget` gives the channel uses (complex, and real ``k = 2 * uses``) and the CBR a payload
of ``n_bits`` costs, e.g. a JPEG at a given bpp (:func:`bpp_budget`); :func:`bits_for_cbr` goes the other way.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any, Callable, Mapping, Optional

import torch
from sionna.phy.fec.ldpc import LDPC5GDecoder, LDPC5GEncoder
from sionna.phy.mapping import Demapper, Mapper

from channel_emulator.config import ChannelConfig, as_config
from channel_emulator.link import ChannelOutput, transmit_symbols
from channel_emulator.rng import sionna_device
from shared.channel.csi import SideInfo
from shared.channel.errors import ChannelParameterError

__all__ = [
    "MAX_RATE",
    "DigitalResult",
    "LDPCPlan",
    "QAMLDPCLink",
    "bits_for_cbr",
    "bpp_budget",
    "link_budget",
    "plan_ldpc",
    "run_digital_link",
]

#: Highest code rate used (38.212's 948/1024; Sionna warns above it and refuses above 0.95).
MAX_RATE = 948 / 1024
MIN_RATE = 1 / 5
_K_MIN = 12

Equalizer = Callable[[torch.Tensor, SideInfo], tuple[torch.Tensor, torch.Tensor]]


def _basegraph(k: int, r: float) -> str:
    # Sionna's automatic choice (LDPC5GEncoder._sel_basegraph)
    if k <= 292 or (k <= 3824 and r <= 0.67) or r <= 0.25:
        return "bg2"
    return "bg1"


def _supported(k: int, n: int) -> bool:
    r = k / n
    if k < _K_MIN or not MIN_RATE <= r <= MAX_RATE:
        return False
    if _basegraph(k, r) == "bg1":
        return k <= 8448 and r >= 1 / 3
    return k <= 3840


@dataclass(frozen=True)
class LDPCPlan:
    """How a payload is coded and modulated.

    Attributes
    ----------
    n_info : int
        Payload bits.
    n_blocks : int
        Code blocks ``C``.
    k_cb, n_cb : int
        Information and coded bits per code block.
    bits_per_symbol : int
        QAM order ``m`` (2 = 4-QAM).
    """

    n_info: int
    n_blocks: int
    k_cb: int
    n_cb: int
    bits_per_symbol: int

    @property
    def n_filler(self) -> int:
        """Zero filler bits completing the last code block."""
        return self.n_blocks * self.k_cb - self.n_info

    @property
    def n_coded(self) -> int:
        """Coded bits sent."""
        return self.n_blocks * self.n_cb

    @property
    def n_symbols(self) -> int:
        """Complex QAM symbols (data channel uses) sent."""
        return self.n_coded // self.bits_per_symbol

    @property
    def code_rate(self) -> float:
        """Rate of each code block ``k_cb / n_cb``."""
        return self.k_cb / self.n_cb

    @property
    def effective_rate(self) -> float:
        """Payload bits per coded bit (filler counted as overhead)."""
        return self.n_info / self.n_coded

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(n_filler=self.n_filler, n_coded=self.n_coded, n_symbols=self.n_symbols, code_rate=self.code_rate,
                 effective_rate=self.effective_rate)
        return d


def plan_ldpc(n_info: int, *, code_rate: Optional[float] = None, max_symbols: Optional[int] = None,
              bits_per_symbol: int = 2) -> LDPCPlan:
    """Choose code blocks and a rate for ``n_info`` payload bits.

    Parameters
    ----------
    n_info : int
        Payload bits (> 0).
    code_rate : float, optional
        Target rate in [1/5, 948/1024]; each block gets ``n_cb = ceil(k_cb / rate)`` rounded up to whole symbols.
    max_symbols : int, optional
        A channel-use budget instead: the rate is chosen so the codewords fill at most ``max_symbols`` QAM symbols
        (the rate is capped at 1/5 from below; leftover budget stays unused).
    bits_per_symbol : int
        2 (4-QAM, the paper's choice), 4, 6, 8.

    Give exactly one of ``code_rate`` and ``max_symbols``.

    Raises
    ------
    ChannelParameterError
        Bad numbers, or a budget too small for the payload even at rate 948/1024.
    """
    if isinstance(n_info, bool) or not isinstance(n_info, int) or n_info <= 0:
        raise ChannelParameterError(f"the payload must be a positive number of bits, got {n_info!r}")
    if bits_per_symbol not in (2, 4, 6, 8):
        raise ChannelParameterError(f"bits_per_symbol must be 2, 4, 6 or 8 (QAM), got {bits_per_symbol!r}")
    if (code_rate is None) == (max_symbols is None):
        raise ChannelParameterError("give exactly one of code_rate and max_symbols")
    m = bits_per_symbol
    if code_rate is not None:
        if not (isinstance(code_rate, (int, float)) and math.isfinite(code_rate) and MIN_RATE <= code_rate <= MAX_RATE):
            raise ChannelParameterError(f"code rate {code_rate!r} is outside [{MIN_RATE:g}, {MAX_RATE:.4f}]")
    else:
        if isinstance(max_symbols, bool) or not isinstance(max_symbols, int) or max_symbols <= 0:
            raise ChannelParameterError(f"max_symbols must be a positive integer, got {max_symbols!r}")
        if n_info > MAX_RATE * max_symbols * m:
            raise ChannelParameterError(
                f"{n_info} bits do not fit into {max_symbols} symbols of {m} bits even at rate {MAX_RATE:.3f} "
                f"(at most {int(MAX_RATE * max_symbols * m)} bits)")

    c = max(1, math.ceil(n_info / 8448))
    while c <= n_info:
        k_cb = max(_K_MIN, math.ceil(n_info / c))
        if code_rate is not None:
            n_cb = math.ceil(k_cb / code_rate / m) * m
            while k_cb / n_cb > MAX_RATE:
                n_cb += m
        else:
            n_cb = (max_symbols // c) * m
            if n_cb == 0:
                break
            n_cb = min(n_cb, (5 * k_cb // m) * m)  # rate >= 1/5
            while k_cb / n_cb < MIN_RATE:
                n_cb += m
        if _supported(k_cb, n_cb):
            return LDPCPlan(n_info=n_info, n_blocks=c, k_cb=k_cb, n_cb=n_cb, bits_per_symbol=m)
        c += 1
    raise ChannelParameterError(f"no 5G LDPC configuration fits {n_info} bits "
                                f"({'rate ' + format(code_rate, 'g') if code_rate else f'{max_symbols} symbols'})")


class QAMLDPCLink:
    """Transmitter and receiver halves of the coded link for one :class:`LDPCPlan` (Sionna blocks).

    Parameters
    ----------
    plan : LDPCPlan
    num_iter : int
        Belief-propagation iterations (default 20).
    device : str or torch.device
    """

    def __init__(self, plan: LDPCPlan, num_iter: int = 20, device: torch.device | str = "cpu") -> None:
        dev = sionna_device(device)
        self.plan = plan
        m = plan.bits_per_symbol
        self.encoder = LDPC5GEncoder(plan.k_cb, plan.n_cb, num_bits_per_symbol=m, device=dev)
        self.decoder = LDPC5GDecoder(self.encoder, hard_out=True, return_infobits=True, num_iter=num_iter, device=dev)
        self.mapper = Mapper("qam", m, device=dev)
        self.demapper = Demapper("app", "qam", m, device=dev)

    def encode(self, bits: torch.Tensor) -> torch.Tensor:
        """Bits (B, n_info) in {0, 1} -> unit-energy QAM symbols (B, n_symbols) complex64."""
        p = self.plan
        b = bits.shape[0]
        u = torch.zeros(b, p.n_blocks * p.k_cb, dtype=torch.float32, device=bits.device)
        u[:, : p.n_info] = bits.to(torch.float32)
        cw = self.encoder(u.reshape(b, p.n_blocks, p.k_cb))  # (B, C, n_cb)
        return self.mapper(cw.reshape(b, p.n_coded))  # (B, n_symbols)

    def decode(self, x_hat: torch.Tensor, no_eff: torch.Tensor) -> torch.Tensor:
        """Equalised unit-energy symbols and their noise variances (B, n_symbols) -> hard bits (B, n_info)."""
        p = self.plan
        b = x_hat.shape[0]
        no_eff = torch.nan_to_num(no_eff.to(torch.float32), nan=1e6, posinf=1e6).clamp(1e-10, 1e6)
        llr = self.demapper(x_hat.to(torch.complex64), no_eff)  # (B, n_coded)
        u_hat = self.decoder(llr.reshape(b, p.n_blocks, p.n_cb))  # (B, C, k_cb)
        return u_hat.reshape(b, p.n_blocks * p.k_cb)[:, : p.n_info]


@lru_cache(maxsize=16)
def _link(plan: LDPCPlan, num_iter: int, device: str) -> QAMLDPCLink:
    return QAMLDPCLink(plan, num_iter, device)


@dataclass
class DigitalResult:
    """Outcome of :func:`run_digital_link`.

    Attributes
    ----------
    bits_hat : [B, n_info], float32
    ber : float
        Bit error rate over all payload bits.
    bler : float
        Code-block error rate over all ``B * C`` blocks.
    bit_errors, block_errors, blocks : int
    plan : LDPCPlan
    channel : ChannelOutput
    """

    bits_hat: torch.Tensor
    ber: float
    bler: float
    bit_errors: int
    block_errors: int
    blocks: int
    plan: LDPCPlan
    channel: ChannelOutput = field(repr=False)

    @property
    def report(self) -> dict[str, Any]:
        return {"ber": self.ber, "bler": self.bler, "bit_errors": self.bit_errors, "block_errors": self.block_errors,
                "blocks": self.blocks, "plan": self.plan.to_dict(), "channel": self.channel.report}


def run_digital_link(bits: torch.Tensor, config: ChannelConfig | Mapping[str, Any], *, equalize: Equalizer,
                     plan: Optional[LDPCPlan] = None, code_rate: Optional[float] = None,
                     max_symbols: Optional[int] = None, bits_per_symbol: int = 2, num_iter: int = 20,
                     seed: Optional[int] = None) -> DigitalResult:
    """Send payload bits over the coded digital link and decode them.

    Input
    -----
    bits : [B, n_info], {0, 1} (any real or integer dtype)
    config : ChannelConfig or mapping
        Channel; ``power_mode`` does not apply (QAM symbols are unit-energy and are sent at ``sqrt(power)``).
    equalize : callable ``(received, side_info) -> (x_hat, no_eff)``
        The receiver's equaliser, e.g. ``receiver.equalization.equalize``; outputs in transmitted units.
    plan : LDPCPlan, optional
        Coding plan; otherwise made by :func:`plan_ldpc` from ``code_rate`` (default 1/2) or ``max_symbols``.
    bits_per_symbol : int
        QAM order (2 = 4-QAM) when the plan is made here.
    num_iter : int
        LDPC decoder iterations.
    seed : int, optional
        Channel seed.

    Output
    ------
    DigitalResult
    """
    cfg = as_config(config)
    if not isinstance(bits, torch.Tensor) or bits.dim() != 2 or bits.numel() == 0:
        raise ChannelParameterError("bits must be a non-empty tensor of shape (B, n_info)")
    if bits.is_complex() or not bool(((bits == 0) | (bits == 1)).all()):
        raise ChannelParameterError("bits must hold only 0 and 1")
    if plan is None:
        if code_rate is None and max_symbols is None:
            code_rate = 0.5
        plan = plan_ldpc(int(bits.shape[1]), code_rate=code_rate, max_symbols=max_symbols,
                         bits_per_symbol=bits_per_symbol)
    elif plan.n_info != bits.shape[1]:
        raise ChannelParameterError(f"the plan is for {plan.n_info} bits, got {bits.shape[1]}")
    link = _link(plan, int(num_iter), sionna_device(bits.device))
    sq = math.sqrt(cfg.power)
    symbols = link.encode(bits)  # (B, n_symbols), unit energy
    out = transmit_symbols(symbols * sq, cfg, seed=seed)
    x_hat, no_eff = equalize(out.received, out.side_info)
    bits_hat = link.decode(x_hat / sq, no_eff / cfg.power)
    err = bits_hat != bits.to(bits_hat.dtype)  # (B, n_info)
    b = bits.shape[0]
    err_pad = torch.zeros(b, plan.n_blocks * plan.k_cb, dtype=torch.bool, device=err.device)
    err_pad[:, : plan.n_info] = err
    block_err = err_pad.reshape(b, plan.n_blocks, plan.k_cb).any(dim=-1)
    bit_errors, block_errors = int(err.sum()), int(block_err.sum())
    return DigitalResult(bits_hat=bits_hat, ber=bit_errors / err.numel(), bler=block_errors / block_err.numel(),
                         bit_errors=bit_errors, block_errors=block_errors, blocks=int(block_err.numel()), plan=plan,
                         channel=out)


def link_budget(n_bits: int, height: int, width: int, channels: int = 3, *, code_rate: float = 0.5,
                bits_per_symbol: int = 2, pilot_uses: int = 0) -> dict[str, Any]:
    """Channel uses and CBR of sending ``n_bits`` (e.g. a JPEG file) of an ``height x width x channels`` image.

    Returns a dict with the plan, ``channel_uses`` (complex: QAM symbols + ``pilot_uses``), ``k_real``
    (``2 * channel_uses``, the paper's convention), ``cbr`` (``k_real / (H W C)``) and ``cbr_complex``
    (``channel_uses / (H W C)``), and ``bpp`` (``n_bits / (H W)``).
    """
    for name, v in (("height", height), ("width", width), ("channels", channels)):
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise ChannelParameterError(f"{name} must be a positive integer, got {v!r}")
    plan = plan_ldpc(n_bits, code_rate=code_rate, bits_per_symbol=bits_per_symbol)
    uses = plan.n_symbols + int(pilot_uses)
    dims = height * width * channels
    return {
        "n_bits": n_bits,
        "bpp": n_bits / (height * width),
        "plan": plan.to_dict(),
        "channel_uses": uses,
        "k_real": 2 * uses,
        "cbr": 2 * uses / dims,
        "cbr_complex": uses / dims,
    }


def bpp_budget(bpp: float, height: int, width: int, channels: int = 3, **kwargs: Any) -> dict[str, Any]:
    """:func:`link_budget` for a JPEG of ``bpp`` bits per pixel (``ceil(bpp * H * W)`` bits)."""
    if not (isinstance(bpp, (int, float)) and math.isfinite(bpp) and bpp > 0):
        raise ChannelParameterError(f"bpp must be a positive number, got {bpp!r}")
    return link_budget(math.ceil(bpp * height * width), height, width, channels, **kwargs)


def bits_for_cbr(cbr: float, height: int, width: int, channels: int = 3, *, code_rate: float = 0.5,
                 bits_per_symbol: int = 2) -> int:
    """Largest payload (bits) whose coded link fits a CBR of ``cbr`` real values per source dimension
    (approximately: ``floor(cbr * H W C / 2 * m * rate)``, ignoring the rounding of code blocks)."""
    if not (isinstance(cbr, (int, float)) and math.isfinite(cbr) and cbr > 0):
        raise ChannelParameterError(f"cbr must be a positive number, got {cbr!r}")
    uses = int(cbr * height * width * channels / 2)
    return int(uses * bits_per_symbol * code_rate)
