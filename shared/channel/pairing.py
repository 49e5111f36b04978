r"""Real-valued latent :math:`\leftrightarrow` complex channel symbols: the one pairing both ends use.

The contract
------------
A message of ``k`` real values (``k`` even; ``k = 512`` for Editable-DeepSC) travels as ``n = k/2`` complex
channel uses. **The first half of the vector gives the real parts, the second half the imaginary parts**
(the convention of the DeepJSCC reference code)::

    z[..., i] = x[..., i] + 1j * x[..., n + i],    i = 0 .. n-1,  n = k/2
    x = concat(z.real, z.imag)                      (the exact inverse)

So complex use ``i`` carries latent entries ``i`` and ``n + i``. The pairing is a fixed, invertible
re-indexing (no scaling): ``complex_to_real(real_to_complex(x)) == x`` bit for bit.

CBR is reported in real values (``k / (H·W·C)``, the paper's convention); the number of complex uses
(``k/2``, plus pilots) is reported beside it.
"""

from __future__ import annotations

import torch

from shared.channel.errors import ChannelParameterError

__all__ = ["real_to_complex", "complex_to_real", "num_channel_uses"]

_COMPLEX_OF = {torch.float32: torch.complex64, torch.float64: torch.complex128}


def num_channel_uses(k: int) -> int:
    """Number of complex channel uses that carry ``k`` real values (``k/2``; ``k`` must be even and > 0)."""
    if isinstance(k, bool) or not isinstance(k, int) or k <= 0 or k % 2:
        raise ChannelParameterError(f"the number of real values must be a positive even integer, got {k!r}")
    return k // 2


def real_to_complex(x: torch.Tensor, *, check_finite: bool = True) -> torch.Tensor:
    """Pair ``k`` real values into ``k/2`` complex channel symbols (first half real, second half imaginary).

    Input
    -----
    x : [..., k], torch.float32 | torch.float64 (other floating dtypes are cast to float32)
        Real values; ``k`` even and > 0.

    Output
    ------
    z : [..., k/2], torch.complex64 | torch.complex128
        ``z[..., i] = x[..., i] + 1j * x[..., k/2 + i]``.

    Raises
    ------
    ChannelParameterError
        ``x`` is not a real floating tensor, is empty, has an odd last dimension, or holds NaN/Inf
        (the finiteness check is skipped with ``check_finite=False``).
    """
    if not isinstance(x, torch.Tensor):
        raise ChannelParameterError(f"expected a torch.Tensor of real values, got {type(x).__name__}")
    if x.is_complex() or not x.is_floating_point():
        raise ChannelParameterError(f"expected a real floating-point tensor, got dtype {x.dtype}")
    if x.dim() == 0 or x.shape[-1] == 0 or x.numel() == 0:
        raise ChannelParameterError(f"the message is empty (shape {tuple(x.shape)})")
    k = x.shape[-1]
    if k % 2:
        raise ChannelParameterError(f"cannot pair an odd number of real values ({k}) into complex symbols")
    if x.dtype not in _COMPLEX_OF:
        x = x.to(torch.float32)
    if check_finite and not bool(torch.isfinite(x).all()):
        raise ChannelParameterError("the message contains NaN or Inf values")
    n = k // 2
    return torch.complex(x[..., :n], x[..., n:])


def complex_to_real(z: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`real_to_complex`: ``concat(z.real, z.imag)`` along the last dimension.

    Input
    -----
    z : [..., n], complex tensor

    Output
    ------
    x : [..., 2n], real tensor of the matching precision
    """
    if not isinstance(z, torch.Tensor) or not z.is_complex():
        raise ChannelParameterError("expected a complex tensor of channel symbols")
    if z.dim() == 0 or z.shape[-1] == 0:
        raise ChannelParameterError(f"no channel symbols to unpair (shape {tuple(z.shape)})")
    return torch.cat([z.real, z.imag], dim=-1)
