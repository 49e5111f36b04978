r"""The side information the channel emulator hands the receiver: frame layout, pilots, CSI.

This is a contract of both ends: the emulator builds frames with it, the receiver estimates and equalises
with it, and a gRPC message can carry it (:meth:`SideInfo.to_dict` / :meth:`SideInfo.from_dict`).

Frame layout
------------
A message of ``n_data`` complex data symbols is sent as a *frame* of ``n_slots`` time slots with
``n_subcarriers`` resource elements each (``n_subcarriers = 1``: single carrier, one channel use per slot;
``> 1``: OFDM, one channel use per subcarrier). Resource elements are numbered time-major,
``use = slot * n_subcarriers + subcarrier``; ``received[b, use]`` is what the receiver sees there.

The slots are grouped into *units* of ``unit_slots`` slots. Each unit starts with ``pilot_slots`` pilot slots
(every resource element of a pilot slot carries a known pilot) followed by data slots; data fill the data
resource elements in order. The last unit is cut short after the last data symbol; with ``trailing_pilot``
one more pilot group closes the frame (so that interpolation brackets every data symbol). In the last OFDM slot
unused resource elements are sent as zeros (they still cost channel uses: ``n_pad``).

``estimation`` tells the receiver how the channel behaves over the frame:

* ``"block"``: constant within each unit (block fading with coherence = ``unit_slots``): the LS estimates of
  the unit's pilots are averaged and held over the unit.
* ``"interp"``: time-varying: LS estimates at the pilot slots are interpolated linearly in time
  (per subcarrier) across the whole frame.
* ``"none"``: no pilots in the frame.

Pilots are unit-modulus QPSK values transmitted at the nominal symbol energy ``es`` (i.e. ``sqrt(es) * p``);
every pilot group uses the same values, ``pilot_sequence(pilot_slots * n_subcarriers)``. Channel uses are counted honestly: ``n_uses = n_data + n_pilot_uses + n_pad``
(the OFDM cyclic prefix, ``cp_length`` samples per slot, is reported separately as ``n_cp``).

CSI modes
---------
``"perfect"``: the receiver gets the true channel ``h`` at every resource element (no pilots needed).
``"ls"``: the frame carries pilots; the receiver estimates ``h`` by least squares.
``"none"``: no channel knowledge; the receiver assumes ``h = 1`` (correct for AWGN only).

The receiver always knows the nominal symbol energy ``es`` (= P) and the noise power ``no``, but **not** the
per-message power-normalisation scale the emulator applied (the latent's scale is handled by the model's
adapters).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any, Literal, Mapping, Optional

import numpy as np
import torch

from shared.channel.errors import ChannelParameterError
from shared.errors import quote

__all__ = ["CSI_MODES", "ESTIMATIONS", "CSIMode", "Estimation", "FrameLayout", "SideInfo", "pilot_sequence"]

CSIMode = Literal["perfect", "ls", "none"]
Estimation = Literal["block", "interp", "none"]
CSI_MODES: tuple[str, ...] = ("perfect", "ls", "none")
ESTIMATIONS: tuple[str, ...] = ("block", "interp", "none")


def pilot_sequence(n: int) -> torch.Tensor:
    r"""The fixed pilot values: ``n`` unit-modulus QPSK symbols (complex64, CPU).

    ``p[m] = exp(j·π/4 + j·π/2·c[m])`` with ``c[m] = (m(m+1)/2) mod 4`` (a QPSK chirp), the same on both ends.
    """
    m = np.arange(n, dtype=np.int64)
    c = (m * (m + 1) // 2) % 4
    p = np.exp(1j * (np.pi / 4 + np.pi / 2 * c)).astype(np.complex64)
    return torch.from_numpy(p)


@dataclass(frozen=True)
class FrameLayout:
    """Where data, pilots and padding sit in a frame (see the module docstring).

    Parameters
    ----------
    n_data : int
        Complex data symbols per message (``k/2``).
    unit_slots : int
        Slots per unit (coherence block or pilot period), pilots included.
    pilot_slots : int
        Pilot slots at the start of every unit (0: no pilots).
    n_subcarriers : int
        Resource elements per slot (1: single carrier).
    trailing_pilot : bool
        Close the frame with one more pilot group.
    estimation : "block" | "interp" | "none"
        How the receiver should turn pilot observations into channel estimates.
    cp_length : int
        OFDM cyclic-prefix samples per slot (overhead, reported as ``n_cp``; 0 for single carrier).
    """

    n_data: int
    unit_slots: int
    pilot_slots: int = 0
    n_subcarriers: int = 1
    trailing_pilot: bool = False
    estimation: Estimation = "none"
    cp_length: int = 0

    def __post_init__(self) -> None:
        for name in ("n_data", "unit_slots", "pilot_slots", "n_subcarriers", "cp_length"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise ChannelParameterError(f"frame layout: {name} must be an integer, got {quote(v, 40)}")
            object.__setattr__(self, name, int(v))
        if self.n_data <= 0:
            raise ChannelParameterError(f"frame layout: the message is empty (n_data={self.n_data})")
        if self.n_subcarriers <= 0 or self.pilot_slots < 0 or self.cp_length < 0:
            raise ChannelParameterError("frame layout: n_subcarriers must be > 0, pilot_slots and cp_length >= 0")
        if self.unit_slots <= self.pilot_slots:
            raise ChannelParameterError(
                f"frame layout: a unit of {self.unit_slots} slots leaves no room for data after "
                f"{self.pilot_slots} pilot slots"
            )
        if self.estimation not in ESTIMATIONS:
            raise ChannelParameterError(f"frame layout: unknown estimation {quote(self.estimation, 40)}; use one of {ESTIMATIONS}")
        if (self.estimation == "none") != (self.pilot_slots == 0):
            raise ChannelParameterError("frame layout: estimation 'none' goes with pilot_slots=0 and vice versa")
        if self.trailing_pilot and self.pilot_slots == 0:
            raise ChannelParameterError("frame layout: trailing_pilot needs pilot_slots > 0")

    # ---------------------------------------------------------------- derived sizes
    @cached_property
    def data_per_unit(self) -> int:
        """Data resource elements per full unit."""
        return (self.unit_slots - self.pilot_slots) * self.n_subcarriers

    @cached_property
    def n_units(self) -> int:
        """Number of units (the last one may be cut short)."""
        return -(-self.n_data // self.data_per_unit)

    @cached_property
    def last_unit_slots(self) -> int:
        """Slots of the last unit (pilots + the slots its remaining data need)."""
        rest = self.n_data - (self.n_units - 1) * self.data_per_unit
        return self.pilot_slots + -(-rest // self.n_subcarriers)

    @cached_property
    def n_slots(self) -> int:
        """Slots in the frame."""
        trailing = self.pilot_slots if self.trailing_pilot else 0
        return (self.n_units - 1) * self.unit_slots + self.last_unit_slots + trailing

    @cached_property
    def n_uses(self) -> int:
        """Complex channel uses (resource elements) of the frame: data + pilots + padding."""
        return self.n_slots * self.n_subcarriers

    @cached_property
    def n_pilot_uses(self) -> int:
        """Channel uses spent on pilots."""
        groups = self.n_units + (1 if self.trailing_pilot else 0)
        return groups * self.pilot_slots * self.n_subcarriers

    @cached_property
    def n_pad(self) -> int:
        """Zero resource elements in the last OFDM slot (0 for single carrier)."""
        return self.n_uses - self.n_pilot_uses - self.n_data

    @cached_property
    def n_cp(self) -> int:
        """Cyclic-prefix samples of the frame (OFDM overhead, not part of ``n_uses``)."""
        return self.cp_length * self.n_slots

    # ---------------------------------------------------------------- positions
    @cached_property
    def _slot_kind(self) -> np.ndarray:
        # (n_slots,) int8: 1 pilot slot, 0 data slot
        kind = np.zeros(self.n_slots, dtype=np.int8)
        for u in range(self.n_units):
            start = u * self.unit_slots
            kind[start:start + self.pilot_slots] = 1
        if self.trailing_pilot:
            kind[self.n_slots - self.pilot_slots:] = 1
        return kind

    @cached_property
    def pilot_mask(self) -> torch.Tensor:
        """(n_uses,) bool: True where a pilot is sent."""
        m = np.repeat(self._slot_kind.astype(bool), self.n_subcarriers)
        return torch.from_numpy(m)

    @cached_property
    def pilot_indices(self) -> torch.Tensor:
        """(n_pilot_uses,) int64: positions of the pilots in the frame, ascending."""
        return torch.nonzero(self.pilot_mask, as_tuple=False).flatten()

    @cached_property
    def data_indices(self) -> torch.Tensor:
        """(n_data,) int64: positions of the data symbols in the frame, in data order."""
        free = torch.nonzero(~self.pilot_mask, as_tuple=False).flatten()
        return free[: self.n_data]

    @cached_property
    def pilot_slot_indices(self) -> tuple[int, ...]:
        """Slot indices that carry pilots."""
        return tuple(int(i) for i in np.nonzero(self._slot_kind)[0])

    def pilot_values(self) -> torch.Tensor:
        """(n_pilot_uses,) complex64: the unit-modulus pilots in frame order; every group repeats
        ``pilot_sequence(pilot_slots * n_subcarriers)``."""
        group = pilot_sequence(self.pilot_slots * self.n_subcarriers)
        n_groups = self.n_units + (1 if self.trailing_pilot else 0)
        return group.repeat(n_groups) if self.pilot_slots else group

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (ints, bools, strings)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "FrameLayout":
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        known = {f for f in cls.__dataclass_fields__}
        extra = set(d) - known
        if extra:
            raise ChannelParameterError(f"frame layout: unknown field(s) {sorted(extra)}")
        return cls(**dict(d))


def _complex_to_plain(t: Optional[torch.Tensor], as_lists: bool) -> Any:
    if t is None:
        return None
    r = torch.view_as_real(t.detach().to("cpu").resolve_conj().contiguous())
    return r.tolist() if as_lists else r


def _plain_to_complex(v: Any) -> Optional[torch.Tensor]:
    if v is None:
        return None
    t = torch.as_tensor(v, dtype=torch.float32) if not isinstance(v, torch.Tensor) else v
    if t.dim() == 0 or t.shape[-1] != 2:
        raise ChannelParameterError("side info: complex tensors are carried as real [..., 2] arrays")
    return torch.view_as_complex(t.to(torch.float32).contiguous())


@dataclass(frozen=True)
class SideInfo:
    """What the receiver learns besides the received symbols.

    Parameters
    ----------
    snr_db : float
        Requested :math:`E_s/N_0` in dB.
    no : float
        Noise power :math:`N_0` per complex channel use (``es / 10**(snr_db/10)``).
    es : float
        Nominal average energy per transmitted complex symbol (P); pilots are sent with this energy.
    csi : "perfect" | "ls" | "none"
        Channel knowledge at the receiver.
    layout : FrameLayout
        Frame layout (positions of data, pilots, padding).
    k : int
        Real values per message (``2 * layout.n_data``).
    model : str
        Channel model name (informational; the receiver does not need it).
    h : [B, n_uses], complex64 or None
        True channel at every resource element (``csi="perfect"`` only).
    pilots : [n_pilot_uses], complex64 or None
        Unit-modulus pilot values in frame order (``csi="ls"`` only); the received pilots are
        ``received[:, layout.pilot_indices]``.
    tx_gain : [B], float32 or None
        The amplitude each message's power normalisation removed (``1 / power_scale``), as the transmitter sends
        it in a 16-bit header (float16 precision, 16 bits per message next to the payload). ``recover(...,
        rescale=True)`` multiplies it back so a latent keeps its norm; None when the sender sent no header.
    """

    snr_db: float
    no: float
    es: float
    csi: CSIMode
    layout: FrameLayout
    k: int
    model: str = ""
    h: Optional[torch.Tensor] = field(default=None, repr=False, compare=False)
    pilots: Optional[torch.Tensor] = field(default=None, repr=False, compare=False)
    tx_gain: Optional[torch.Tensor] = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.csi not in CSI_MODES:
            raise ChannelParameterError(f"side info: unknown CSI mode {quote(self.csi, 40)}; use one of {CSI_MODES}")
        if not (math.isfinite(self.no) and self.no > 0 and math.isfinite(self.es) and self.es > 0):
            raise ChannelParameterError("side info: no and es must be finite and > 0")
        if self.k != 2 * self.layout.n_data:
            raise ChannelParameterError(f"side info: k={self.k} does not match {self.layout.n_data} data symbols")
        if self.csi == "perfect" and self.h is None:
            raise ChannelParameterError("side info: CSI mode 'perfect' needs the channel h")
        if self.h is not None and (self.h.dim() != 2 or self.h.shape[-1] != self.layout.n_uses):
            raise ChannelParameterError(
                f"side info: h must have shape (B, {self.layout.n_uses}), got {tuple(self.h.shape)}"
            )
        if self.csi == "ls":
            if self.layout.pilot_slots == 0:
                raise ChannelParameterError("side info: CSI mode 'ls' needs a frame with pilots")
            if self.pilots is None or self.pilots.shape != (self.layout.n_pilot_uses,):
                raise ChannelParameterError("side info: CSI mode 'ls' needs the pilot values of the frame")
        if self.tx_gain is not None:
            g = self.tx_gain
            if g.dim() != 1 or g.is_complex() or not bool(torch.isfinite(g).all()) or bool((g <= 0).any()):
                raise ChannelParameterError("side info: tx_gain must be a (B,) tensor of finite values > 0")

    @property
    def pilot_positions(self) -> torch.Tensor:
        """(n_pilot_uses,) int64 positions of the pilots in ``received``."""
        return self.layout.pilot_indices

    def received_pilots(self, received: torch.Tensor) -> torch.Tensor:
        """(B, n_pilot_uses) received pilot observations taken from ``received`` (B, n_uses)."""
        return received[..., self.layout.pilot_indices.to(received.device)]

    def to(self, device: torch.device | str) -> "SideInfo":
        """A copy whose tensors live on ``device``."""
        return SideInfo(
            snr_db=self.snr_db, no=self.no, es=self.es, csi=self.csi, layout=self.layout, k=self.k, model=self.model,
            h=None if self.h is None else self.h.to(device),
            pilots=None if self.pilots is None else self.pilots.to(device),
            tx_gain=None if self.tx_gain is None else self.tx_gain.to(device),
        )

    def to_dict(self, *, as_lists: bool = False) -> dict[str, Any]:
        """Plain-dict form: scalars, strings, the layout as a dict, complex tensors as real ``[..., 2]`` tensors
        (or nested lists with ``as_lists=True``, JSON-ready)."""
        return {
            "snr_db": float(self.snr_db),
            "no": float(self.no),
            "es": float(self.es),
            "csi": self.csi,
            "k": int(self.k),
            "model": self.model,
            "layout": self.layout.to_dict(),
            "pilot_positions": self.layout.pilot_indices.tolist() if as_lists else self.layout.pilot_indices.clone(),
            "h": _complex_to_plain(self.h, as_lists),
            "pilots": _complex_to_plain(self.pilots, as_lists),
            "tx_gain": None if self.tx_gain is None else
            (self.tx_gain.detach().cpu().tolist() if as_lists else self.tx_gain.detach().cpu().clone()),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "SideInfo":
        """Inverse of :meth:`to_dict` (``pilot_positions`` is derived from the layout and checked)."""
        known = {"snr_db", "no", "es", "csi", "k", "model", "layout", "pilot_positions", "h", "pilots", "tx_gain"}
        extra = set(d) - known
        if extra:
            raise ChannelParameterError(f"side info: unknown field(s) {sorted(extra)}")
        try:
            layout = d["layout"] if isinstance(d["layout"], FrameLayout) else FrameLayout.from_dict(d["layout"])
            info = cls(
                snr_db=float(d["snr_db"]), no=float(d["no"]), es=float(d["es"]), csi=d["csi"], layout=layout,
                k=int(d["k"]), model=str(d.get("model", "")),
                h=_plain_to_complex(d.get("h")), pilots=_plain_to_complex(d.get("pilots")),
                tx_gain=None if d.get("tx_gain") is None else torch.as_tensor(d["tx_gain"], dtype=torch.float32),
            )
        except KeyError as exc:
            raise ChannelParameterError(f"side info: missing field {quote(exc.args[0], 40)}") from None
        pos = d.get("pilot_positions")
        if pos is not None and torch.as_tensor(pos).tolist() != layout.pilot_indices.tolist():
            raise ChannelParameterError("side info: pilot_positions do not match the frame layout")
        return info
