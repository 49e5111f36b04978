"""The SynthFace latent layout ``synthface-z30-v1``: which face a generator latent z stands for, and back.

The built-in bundle's generator was distilled so that ``G(z)`` draws the SynthFace face whose identity (25
parameters in [−1, 1]) and attribute degrees (5 values in [0, 5]) are a fixed transform of z's first 30
coordinates (:func:`world_params_from_z`); the other coordinates are nuisance that the mapping network does not
read. :func:`z_from_world_params` goes back, so a face described by its parameters has a latent
``w = G.mapping(z_from_world_params(identity, degrees))``. Training renders labelled faces with it; the transmitter
starts its inversion from it when the face's parameters are read from the image by the bundle's identity encoder
and attribute predictor (:mod:`transmitter.inversion_init`).

Everything here is a pure function of tensors (no weights), shared by ``edsc.train`` and the transmitter. The
constants agree with ``edsc.world.synthface`` (a test checks it; ``shared`` does not import ``edsc``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from shared.errors import InvalidArgumentError
from shared.models.identity import SYNTHFACE_IDENTITY_DIMS
from shared.world_spec import ATTRIBUTES, MAX_DEGREE

__all__ = ["LAYOUT", "ATTRIBUTES", "MAX_DEGREE", "N_ID", "N_ATTR", "WORLD_DIMS", "world_params_from_z",
           "z_from_world_params", "degree_from_uniform", "uniform_from_degree"]

#: The layout's name, as a bundle's manifest records it (``latent_layout.name``).
LAYOUT = "synthface-z30-v1"
N_ID = len(SYNTHFACE_IDENTITY_DIMS)  # 25 identity parameters
N_ATTR = len(ATTRIBUTES)             # 5 attribute degrees
WORLD_DIMS = N_ID + N_ATTR           # 30 leading coordinates of z carry the face
_U_EPS = 1e-6


def _normal_cdf(x: Tensor) -> Tensor:
    return 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))


def _normal_icdf(u: Tensor) -> Tensor:
    return math.sqrt(2.0) * torch.erfinv(2.0 * u - 1.0)


def _staircase(integer_fraction: float) -> tuple[float, float]:
    """Widths (a, b) of the 6 plateaus and 5 ramps of the degree staircase on [0, 1]: 6a + 5b = 1."""
    p = float(integer_fraction)
    if not 0.0 <= p <= 1.0:
        raise InvalidArgumentError(f"integer_fraction must lie in [0, 1], got {integer_fraction!r}")
    return p / (MAX_DEGREE + 1), (1.0 - p) / MAX_DEGREE


def degree_from_uniform(u: Tensor, integer_fraction: float = 0.7) -> Tensor:
    """The degree staircase: u in [0, 1] -> degree in [0, 5], continuous and non-decreasing.

    [0, 1] is cut into 6 plateaus (mass ``integer_fraction`` together; degree exactly 0, 1, .., 5) and 5 linear
    ramps between them (the remaining mass; fractional degrees). ``integer_fraction = 1`` gives integers only
    (then the map is a step function), ``0`` a uniform degree.
    """
    a, b = _staircase(integer_fraction)
    u = u.clamp(0.0, 1.0)
    if b == 0.0:
        return (u * (MAX_DEGREE + 1)).floor().clamp(max=MAX_DEGREE)
    k = (u / (a + b)).floor().clamp(max=MAX_DEGREE)
    return k + ((u - k * (a + b) - a) / b).clamp(0.0, 1.0)


def uniform_from_degree(d: Tensor, integer_fraction: float = 0.7) -> Tensor:
    """A right inverse of :func:`degree_from_uniform`: integer degrees go to the centre of their plateau,
    fractional ones onto their ramp (with ``integer_fraction = 1`` they are rounded first)."""
    a, b = _staircase(integer_fraction)
    d = d.clamp(0.0, float(MAX_DEGREE))
    k = d.floor().clamp(max=MAX_DEGREE)
    f = d - k
    if b == 0.0:
        k, f = d.round(), torch.zeros_like(d)
    integer = f.abs() < 1e-6
    return torch.where(integer, k * (a + b) + 0.5 * a, k * (a + b) + a + f * b)


def _pixel_norm(z: Tensor) -> Tensor:
    """The generator's first mapping layer: z / rms(z) (same epsilon)."""
    return z * torch.rsqrt(z.square().mean(1, keepdim=True) + 1e-8)


def world_params_from_z(z: Tensor, integer_fraction: float = 0.7) -> tuple[Tensor, Tensor]:
    """The SynthFace face that latent z stands for.

    The transform works on the pixel-normalised latent ``n = z / rms(z)`` (exactly what the mapping network sees
    after its PixelNorm, so the face is a function of the mapping's input) and uses its first 30 coordinates;
    the other ``style_dim - 30`` are nuisance the generator learns to ignore::

        u = Φ(n[:, :30])                         Φ = standard normal CDF, ~U(0, 1) per coordinate
        identity = 2 · u[:, :25] − 1             in [−1, 1], ~uniform (the SynthFace prior)
        degrees  = staircase(u[:, 25:30])        in [0, 5]: integers with probability ``integer_fraction``
                                                 (each degree 0..5 equally likely), else uniform in between

    Input: z (B, D) with D >= 30. Output: identity (B, 25) float32, degrees (B, 5) float32 (on z's device).
    """
    if z.dim() != 2 or z.shape[1] < WORLD_DIMS:
        raise InvalidArgumentError(f"z must have shape (B, D) with D >= {WORLD_DIMS}, got {tuple(z.shape)}")
    u = _normal_cdf(_pixel_norm(z.float())[:, :WORLD_DIMS])                  # (B, 30)
    identity = (2.0 * u[:, :N_ID] - 1.0).clamp(-1.0, 1.0)                   # (B, 25)
    degrees = degree_from_uniform(u[:, N_ID:], integer_fraction)            # (B, 5)
    return identity, degrees


def z_from_world_params(identity: Tensor, degrees: Tensor, style_dim: int = 512,
                        generator: torch.Generator | None = None, integer_fraction: float = 0.7) -> Tensor:
    """A latent z whose face (:func:`world_params_from_z`) is (identity, degrees): the way to ask G for a face.

    The 30 leading coordinates are set by inverting the transform; the nuisance coordinates are a random
    direction (from ``generator``) scaled so that rms(z) = 1, so PixelNorm leaves z unchanged.

    Input: identity (B, 25) in [−1, 1], degrees (B, 5) in [0, 5]. Output: z (B, style_dim) float32.
    """
    if identity.dim() != 2 or identity.shape[1] != N_ID:
        raise InvalidArgumentError(f"identity must have shape (B, {N_ID}), got {tuple(identity.shape)}")
    if degrees.shape != (identity.shape[0], N_ATTR):
        raise InvalidArgumentError(f"degrees must have shape ({identity.shape[0]}, {N_ATTR}), got "
                                   f"{tuple(degrees.shape)}")
    if style_dim <= WORLD_DIMS:
        raise InvalidArgumentError(f"style_dim must exceed {WORLD_DIMS}, got {style_dim}")
    device = identity.device
    u = torch.cat([(identity.float().clamp(-1.0, 1.0) + 1.0) * 0.5,
                   uniform_from_degree(degrees.float().to(device), integer_fraction)], 1)
    head = _normal_icdf(u.clamp(_U_EPS, 1.0 - _U_EPS))                      # (B, 30), |head| < 4.8
    gdev = generator.device if generator is not None else device
    rest = torch.randn(identity.shape[0], style_dim - WORLD_DIMS, generator=generator, device=gdev).to(device)
    room = (style_dim - head.square().sum(1, keepdim=True)).clamp(min=1e-3)  # ||rest||² so that rms(z) = 1
    rest = rest * (room.sqrt() / rest.norm(dim=1, keepdim=True).clamp(min=1e-8))
    return torch.cat([head, rest], 1)
