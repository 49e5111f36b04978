"""Field functions M: one editing direction per attribute in the latent space W (eq. 11).

* :class:`ResidualField` — the paper's JECC encoder step, ``E ← E + d·s·M(E)`` with M a fully connected
  network (eq. 11), ``s`` a fixed step scale.
* :class:`Talk2EditField` — Talk-to-Edit's field function (``models/archs/field_function_arch.py``,
  ``FieldFunction(num_layer=8)``) with its editing step (``models/field_function_model.py``,
  ``modify_latent_code_bidirection``):

  - F = 8 plain ``nn.Linear(512, 512)`` layers (not EqualLinear, no lr_mul), LeakyReLU(0.2) after all but the
    last; keys ``field.{0..7}.Linear.{weight,bias}``; the published ``{128,1024}_field/<Attr>.pth`` files are
    bare state dicts (``torch.save(net.state_dict())``).
  - F's **input** is the current W code w (B, 512). Its **output** lives in the input space of the mapping
    network (Z after PixelNorm): it is pushed through the generator's 8 mapping layers *without* PixelNorm
    (``style_forward(skip_norm=True)``), and the mapping of the zero vector is subtracted:
    ``δw = Map(F(w)) − Map(0)``. So δw is exactly zero wherever F(w) = 0; at w = 0 it is
    ``Map(F(0)) − Map(0)``, not zero in general (F's layers have biases).
  - Step with direction d = ±1: ``w ← w + d·δw`` (F is evaluated at the current w for both directions).
    Talk-to-Edit (``fix_layers: true``) adds ``d·δw`` only to the first ``replaced_layers`` entries of the W+
    code (8 of 12 at 128 px, 10 of 18 at 1024 px) while the running w fed to F gets the full update; the
    remaining W+ entries keep the original w. :meth:`Talk2EditField.step_wplus` reproduces that; the
    project transmits one W vector, so :meth:`Talk2EditField.step` updates w only.

:class:`FieldBank` holds one field per attribute.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from shared.dataclass_config import checked_fields
from shared.errors import BundleError, InvalidArgumentError
from shared.models.predictor import load_state_dict_strict
from shared.world_spec import ATTRIBUTES as DEFAULT_ATTRIBUTES, TALK2EDIT_ATTRIBUTES

__all__ = [
    "FieldConfig",
    "ResidualField",
    "Talk2EditField",
    "FieldBank",
    "load_talk2edit_fields",
    "TALK2EDIT_TO_PROJECT",
]

#: Talk-to-Edit attribute (file) names → project names.
TALK2EDIT_TO_PROJECT: dict[str, str] = dict(zip(TALK2EDIT_ATTRIBUTES, DEFAULT_ATTRIBUTES))


def _direction_tensor(direction: int | torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """int ±1 or (B,) tensor of ±1 → (B, 1) float on w's device."""
    if isinstance(direction, torch.Tensor):
        d = direction.to(device=w.device, dtype=w.dtype).reshape(-1)
        if d.numel() == 1:
            d = d.expand(w.shape[0])
        if d.shape[0] != w.shape[0]:
            raise InvalidArgumentError(f"direction has {d.shape[0]} entries for a batch of {w.shape[0]}")
        if not bool(((d == 1) | (d == -1)).all()):
            raise InvalidArgumentError("direction entries must be +1 or -1")
        return d.view(-1, 1)
    if direction not in (1, -1):
        raise InvalidArgumentError(f"direction must be +1 or -1, got {direction!r}")
    return torch.full((w.shape[0], 1), float(direction), device=w.device, dtype=w.dtype)


def _check_w(w: torch.Tensor, dim: int) -> None:
    if w.ndim != 2 or w.shape[1] != dim:
        raise InvalidArgumentError(f"latent must have shape (B, {dim}), got {tuple(w.shape)}")


# ----------------------------------------------------------------------------------------------------------------
# Residual field (paper default)
# ----------------------------------------------------------------------------------------------------------------

@dataclass
class FieldConfig:
    """Configuration of :class:`ResidualField`.

    Parameters
    ----------
    dim : int
        Latent size (512).
    hidden : int
        Width of the hidden layers.
    layers : int
        Number of Linear layers in M (>= 1).
    negative_slope : float
        LeakyReLU slope after every layer but the last.
    step_scale : float
        s in ``E ← E + d·s·M(E)``.
    zero_init_last : bool
        Zero-initialise M's last layer (the first step is then the identity).
    """

    dim: int = 512
    hidden: int = 512
    layers: int = 4
    negative_slope: float = 0.2
    step_scale: float = 1.0
    zero_init_last: bool = False

    def __post_init__(self) -> None:
        if self.layers < 1 or self.dim < 1 or self.hidden < 1:
            raise InvalidArgumentError(f"invalid FieldConfig sizes: {self}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "FieldConfig":
        return cls(**checked_fields(cls, d))


class ResidualField(nn.Module):
    """Eq. 11: ``E(t) = E(t−1) + d·s·M(E(t−1))``, M = ``layers`` fully connected layers.

    Parameters
    ----------
    config : FieldConfig or dict

    Input (``step``)
    -----
    w : torch.Tensor
        (B, dim).
    direction : int or torch.Tensor
        ±1 or (B,) of ±1.

    Output
    ------
    torch.Tensor
        (B, dim) the next latent.
    """

    def __init__(self, config: FieldConfig | Mapping[str, Any] | None = None):
        super().__init__()
        if config is None:
            config = FieldConfig()
        elif not isinstance(config, FieldConfig):
            config = FieldConfig.from_dict(config)
        self.cfg = config
        dims = [config.dim] + [config.hidden] * (config.layers - 1) + [config.dim]
        self.net = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        if config.zero_init_last:
            nn.init.zeros_(self.net[-1].weight)
            nn.init.zeros_(self.net[-1].bias)

    @property
    def dim(self) -> int:
        return self.cfg.dim

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        """M(w): (B, dim) → (B, dim)."""
        x = w
        for i, layer in enumerate(self.net):
            x = layer(x)
            if i < len(self.net) - 1:
                x = F.leaky_relu(x, self.cfg.negative_slope)
        return x

    def delta(self, w: torch.Tensor) -> torch.Tensor:
        """The undirected step s·M(w)."""
        _check_w(w, self.cfg.dim)
        return self.cfg.step_scale * self.forward(w)

    def step(self, w: torch.Tensor, direction: int | torch.Tensor = 1) -> torch.Tensor:
        return w + _direction_tensor(direction, w) * self.delta(w)


# ----------------------------------------------------------------------------------------------------------------
# Talk-to-Edit field
# ----------------------------------------------------------------------------------------------------------------

class _T2ELinear(nn.Module):
    """Talk-to-Edit's ``LinearLayer``: one sub-module named ``Linear`` (key ``field.i.Linear.weight``)."""

    def __init__(self, dim_in: int, dim_out: int, activation: bool, negative_slope: float):
        super().__init__()
        self.Linear = nn.Linear(dim_in, dim_out, bias=True)
        self.activation = activation
        self.negative_slope = negative_slope

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.Linear(x)
        return F.leaky_relu(x, self.negative_slope) if self.activation else x


class Talk2EditField(nn.Module):
    """Talk-to-Edit's field function F and its step ``w ← w + d·(Map(F(w)) − Map(0))``.

    Parameters
    ----------
    num_layers : int
        8 in every published file.
    dim, hidden : int
        512.
    negative_slope : float
        0.2.
    mapping : nn.Module, optional
        The generator's mapping network (``Generator.style``, an ``nn.Sequential``/``nn.ModuleList`` of
        PixelNorm followed by the EqualLinear layers), or a ``Generator`` with a ``style`` attribute; see
        :meth:`set_mapping`. Not registered as a sub-module: it stays out of this module's ``state_dict``,
        parameters and ``.to()``.
    """

    def __init__(self, num_layers: int = 8, dim: int = 512, hidden: int = 512, negative_slope: float = 0.2,
                 mapping: nn.Module | None = None, replaced_layers: int | None = None):
        super().__init__()
        if num_layers < 2:
            raise InvalidArgumentError(f"Talk2EditField needs at least 2 layers, got {num_layers}")
        dims = [dim] + [hidden] * (num_layers - 1) + [dim]
        self.field = nn.Sequential(*[
            _T2ELinear(a, b, activation=i < num_layers - 1, negative_slope=negative_slope)
            for i, (a, b) in enumerate(zip(dims[:-1], dims[1:]))
        ])
        self.dim = dim
        self.replaced_layers = replaced_layers
        self._map_layers: list[nn.Module] = []  # plain list: not registered
        if mapping is not None:
            self.set_mapping(mapping)

    # -- mapping --------------------------------------------------------------------------------------------------
    def set_mapping(self, mapping: nn.Module, skip_first: bool = True) -> None:
        """Uses ``mapping[1:]`` (``skip_first``: element 0 is PixelNorm) as Map.

        Accepts the generator itself (its ``style`` attribute is used), an ``nn.Sequential`` or an
        ``nn.ModuleList``.
        """
        if hasattr(mapping, "style") and isinstance(getattr(mapping, "style"), nn.Module):
            mapping = mapping.style
        if not isinstance(mapping, (nn.Sequential, nn.ModuleList)):
            raise InvalidArgumentError(
                f"mapping must be an nn.Sequential / nn.ModuleList (Generator.style), got {type(mapping).__name__}")
        layers = list(mapping)[1:] if skip_first else list(mapping)
        if not layers:
            raise InvalidArgumentError("the mapping network has no layers after PixelNorm")
        if skip_first and any(True for _ in list(mapping)[0].parameters()):
            raise InvalidArgumentError("element 0 of the mapping must be PixelNorm (no parameters)")
        self._map_layers = layers

    @property
    def has_mapping(self) -> bool:
        return bool(self._map_layers)

    def map(self, x: torch.Tensor) -> torch.Tensor:
        """Map = the mapping layers without PixelNorm."""
        if not self._map_layers:
            raise InvalidArgumentError("Talk2EditField has no mapping network; call set_mapping(generator.style)")
        for layer in self._map_layers:
            x = layer(x)
        return x

    # -- F and the step -------------------------------------------------------------------------------------------
    def forward(self, w: torch.Tensor) -> torch.Tensor:
        """F(w): (B, 512) → (B, 512), in the mapping network's input space."""
        return self.field(w)

    def delta(self, w: torch.Tensor) -> torch.Tensor:
        """δw = Map(F(w)) − Map(0) (B, 512); Map(0) carries no gradient."""
        _check_w(w, self.dim)
        f = self.forward(w)
        with torch.no_grad():
            offset = self.map(torch.zeros_like(f))
        return self.map(f) - offset

    def step(self, w: torch.Tensor, direction: int | torch.Tensor = 1) -> torch.Tensor:
        """w + d·δw, (B, 512) → (B, 512)."""
        return w + _direction_tensor(direction, w) * self.delta(w)

    def step_wplus(self, w: torch.Tensor, w_plus: torch.Tensor, direction: int | torch.Tensor = 1,
                   replaced_layers: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Talk-to-Edit's ``fix_layers`` step: (w + d·δw, W+ with d·δw added to its first ``replaced_layers``).

        Input: w (B, 512), w_plus (B, n_latent, 512). Output: the same shapes.
        """
        n = replaced_layers if replaced_layers is not None else self.replaced_layers
        if n is None:
            raise InvalidArgumentError("replaced_layers is not set (Talk-to-Edit: 8 at 128 px, 10 at 1024 px)")
        if w_plus.ndim != 3 or w_plus.shape[0] != w.shape[0] or w_plus.shape[2] != self.dim:
            raise InvalidArgumentError(f"w_plus must have shape (B, n_latent, {self.dim}), got {tuple(w_plus.shape)}")
        d = _direction_tensor(direction, w)
        dw = d * self.delta(w)  # (B, 512)
        mask = torch.zeros(1, w_plus.shape[1], 1, dtype=w_plus.dtype, device=w_plus.device)
        mask[:, : min(n, w_plus.shape[1])] = 1.0
        return w + dw, w_plus + mask * dw.unsqueeze(1)


# ----------------------------------------------------------------------------------------------------------------
# Bank
# ----------------------------------------------------------------------------------------------------------------

class FieldBank(nn.ModuleDict):
    """One field per attribute, keyed by attribute name (state-dict keys ``<attribute>.<field keys>``).

    Parameters
    ----------
    fields : mapping name → ResidualField / Talk2EditField
    """

    def __init__(self, fields: Mapping[str, nn.Module] | None = None):
        super().__init__()
        for name, f in (fields or {}).items():
            if not hasattr(f, "step"):
                raise InvalidArgumentError(f"field for {name!r} has no step()")
            self[name] = f

    @classmethod
    def residual(cls, attributes: Sequence[str] = DEFAULT_ATTRIBUTES,
                 config: FieldConfig | Mapping[str, Any] | None = None) -> "FieldBank":
        """A bank of freshly initialised :class:`ResidualField`, one per attribute."""
        return cls({a: ResidualField(config) for a in attributes})

    @property
    def attributes(self) -> list[str]:
        return list(self.keys())

    def field_for(self, attribute: str | int) -> nn.Module:
        names = self.attributes
        if isinstance(attribute, int):
            if not 0 <= attribute < len(names):
                raise InvalidArgumentError(f"attribute index {attribute} is outside [0, {len(names) - 1}]")
            return self[names[attribute]]
        if attribute not in self:
            raise InvalidArgumentError(f"no field for attribute {attribute!r}; known: {', '.join(names)}")
        return self[attribute]

    def step(self, w: torch.Tensor, attribute: str | int, direction: int | torch.Tensor = 1) -> torch.Tensor:
        """One step of the field of ``attribute`` (name or index): (B, 512) → (B, 512)."""
        return self.field_for(attribute).step(w, direction)

    def set_mapping(self, mapping: nn.Module) -> None:
        """Hands the generator's mapping network to every :class:`Talk2EditField` of the bank."""
        for f in self.values():
            if isinstance(f, Talk2EditField):
                f.set_mapping(mapping)


def load_talk2edit_fields(state_dicts: Mapping[str, Mapping[str, Any]], mapping: nn.Module | None = None,
                          replaced_layers: int | None = None) -> FieldBank:
    """Builds a :class:`FieldBank` of :class:`Talk2EditField` from the published ``<Attr>.pth`` state dicts.

    Parameters
    ----------
    state_dicts : mapping
        Attribute → state dict. Keys may be Talk-to-Edit names (``Bangs``, ``No_Beard``, ``Young`` …, mapped to
        ``bangs``, ``beard``, ``age`` …) or project names. A ``{'state_dict': ...}`` wrapper or ``module.``
        prefix is tolerated.
    mapping : nn.Module, optional
        ``Generator.style`` (or the generator) for Map.
    replaced_layers : int, optional
        For :meth:`Talk2EditField.step_wplus` (Talk-to-Edit: 8 at 128 px, 10 at 1024 px).
    """
    from shared.models.predictor import unwrap_state_dict

    fields: dict[str, nn.Module] = {}
    for name, raw in state_dicts.items():
        project = TALK2EDIT_TO_PROJECT.get(name, name)
        sd = unwrap_state_dict(raw)
        n_layers = len([k for k in sd if k.startswith("field.") and k.endswith(".Linear.weight")])
        if n_layers < 2:
            raise BundleError(f"field {name!r}: no Talk-to-Edit field layers (field.i.Linear.weight) found")
        w0 = sd["field.0.Linear.weight"]
        f = Talk2EditField(num_layers=n_layers, dim=int(w0.shape[1]), hidden=int(w0.shape[0]),
                           replaced_layers=replaced_layers)
        load_state_dict_strict(f, sd, f"Talk-to-Edit field {name!r}")
        if mapping is not None:
            f.set_mapping(mapping)
        fields[project] = f.eval()
    return FieldBank(fields)
