"""StyleGAN2 generator and discriminator in plain PyTorch.

No custom CUDA kernels and no compiled extensions: everything is built from ``F.conv2d``,
``F.conv_transpose2d``, ``F.pad`` and ``F.leaky_relu``, so the models run on any device PyTorch supports.

The module tree mirrors rosinality's ``stylegan2-pytorch`` (which Talk-to-Edit uses unchanged), so the
``state_dict`` of :class:`Generator` / :class:`Discriminator` has exactly the same keys, shapes and order:
a ``g_ema`` from a rosinality or Talk-to-Edit checkpoint loads with ``load_state_dict(strict=True)`` and
renders the same image.

Overview of the generator (``size = 2**L``, ``n_latent = 2L - 2`` W+ entries, ``num_layers = 2L - 3``
noise maps)::

    z (B, D) -> mapping: PixelNorm, n_mlp x EqualLinear + lrelu -> w (B, D)
    w -> broadcast to W+ (B, n_latent, D)
    const 4x4 -> conv1 (w+[0]) -> to_rgb1 (w+[1]) = skip
    for each resolution 8 .. size:
        up-conv (w+[i]) -> conv (w+[i+1]) -> to_rgb (w+[i+2]) + upsample(skip)
    image = skip   (B, 3, size, size), nominally in [-1, 1] (not clamped)

Public API
----------
- :class:`GeneratorConfig`, :class:`Generator` (``mapping``, ``mean_latent``, ``synthesis``, ``forward``)
- :class:`DiscriminatorConfig`, :class:`Discriminator`
- helpers :func:`default_channels`, :func:`make_blur_kernel`, :func:`upfirdn2d`, :func:`fused_leaky_relu`
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from shared.dataclass_config import checked_fields
from shared.errors import InvalidArgumentError

DEFAULT_BLUR_KERNEL: tuple[int, ...] = (1, 3, 3, 1)
NOISE_MODES = ("const", "random", "none")
_LRELU_SLOPE = 0.2
_LRELU_GAIN = math.sqrt(2.0)


# ----------------------------------------------------------------------------------------------------------
# Functional helpers


def default_channels(channel_multiplier: int = 2) -> dict[int, int]:
    """rosinality's per-resolution feature widths, resolution -> channels."""
    cm = channel_multiplier
    return {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * cm, 128: 128 * cm, 256: 64 * cm, 512: 32 * cm,
            1024: 16 * cm}


def _normalise_channels(channels: dict[Any, Any] | None) -> dict[int, int] | None:
    """Accept int or str keys (JSON turns int keys into strings); return an int -> int dict (or None)."""
    if channels is None:
        return None
    try:
        out = {int(k): int(v) for k, v in channels.items()}
    except (TypeError, ValueError, AttributeError) as exc:
        raise InvalidArgumentError(f"channels must map resolutions to widths, got {channels!r}") from exc
    bad = {k: v for k, v in out.items() if v <= 0}
    if bad:
        raise InvalidArgumentError(f"channel widths must be positive, got {bad}")
    return out


def _log2_size(size: int, what: str) -> int:
    """log2 of a power-of-two image size >= 4 (raises InvalidArgumentError otherwise)."""
    if not isinstance(size, int) or size < 4 or size & (size - 1):
        raise InvalidArgumentError(f"{what} size must be a power of two >= 4, got {size!r}")
    return size.bit_length() - 1


def _resolve_channels(size: int, channel_multiplier: int, channels: dict[int, int] | None,
                      what: str) -> dict[int, int]:
    """The width table actually used: the override if given, else rosinality's; must cover 4 .. size."""
    table = channels if channels is not None else default_channels(channel_multiplier)
    needed = [2 ** r for r in range(2, _log2_size(size, what) + 1)]
    missing = [r for r in needed if r not in table]
    if missing:
        raise InvalidArgumentError(
            f"{what} of size {size} needs channel widths for resolutions {needed}; missing {missing}")
    return {r: table[r] for r in needed}


def make_blur_kernel(k: Sequence[float]) -> torch.Tensor:
    """A normalised 2-D FIR kernel: the outer product of a 1-D kernel with itself, summing to 1.

    Input: ``k`` 1-D taps such as (1, 3, 3, 1) (a 2-D nested sequence is used as is).
    Output: (K, K) float32 tensor.
    """
    k = torch.tensor(k, dtype=torch.float32)
    if k.ndim == 1:
        k = k[None, :] * k[:, None]
    return k / k.sum()


def upfirdn2d(x: torch.Tensor, kernel: torch.Tensor, up: int = 1, down: int = 1,
              pad: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """Upsample by zero insertion, pad, FIR-filter (true convolution), downsample; per channel.

    The same operation as NVIDIA's / rosinality's ``upfirdn2d``: each sample is followed by ``up - 1``
    zeros (on both axes), the result is padded by ``pad[0]`` before and ``pad[1]`` after (negative values
    crop), convolved with ``kernel`` and every ``down``-th output kept.

    Input: x (B, C, H, W); kernel (kh, kw).
    Output: (B, C, (H*up + pad0 + pad1 - kh) // down + 1, same for W).
    """
    b, c, h, w = x.shape
    kh, kw = kernel.shape
    if up > 1:
        x = x.reshape(b, c, h, 1, w, 1)
        x = F.pad(x, (0, up - 1, 0, 0, 0, up - 1))                          # zeros after each sample
        x = x.reshape(b, c, h * up, w * up)
    pad0, pad1 = pad
    x = F.pad(x, (pad0, pad1, pad0, pad1))                                  # negative pads crop
    weight = torch.flip(kernel, (0, 1)).to(x.dtype).reshape(1, 1, kh, kw)  # conv2d correlates: flip
    return F.conv2d(x, weight.expand(c, 1, kh, kw), stride=down, groups=c)  # depthwise: one filter per channel


def fused_leaky_relu(x: torch.Tensor, bias: torch.Tensor | None = None,
                     negative_slope: float = _LRELU_SLOPE, scale: float = _LRELU_GAIN) -> torch.Tensor:
    """``leaky_relu(x + bias) * sqrt(2)`` with the bias added along dim 1 (rosinality's fused_lrelu)."""
    if bias is not None:
        x = x + bias.reshape(1, -1, *([1] * (x.ndim - 2)))
    return F.leaky_relu(x, negative_slope) * scale


# ----------------------------------------------------------------------------------------------------------
# Building blocks (names and parameter layout follow rosinality's model.py)


class PixelNorm(nn.Module):
    """Normalise each vector to unit root-mean-square over dim 1."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(torch.mean(x * x, dim=1, keepdim=True) + 1e-8)


class EqualLinear(nn.Module):
    """Linear layer with equalised learning rate: weight stored as N(0, 1/lr_mul), scaled at run time.

    Parameters: in_dim, out_dim, bias, bias_init, lr_mul, activation (True: fused leaky ReLU).
    Input: (B, in_dim). Output: (B, out_dim).
    """

    def __init__(self, in_dim: int, out_dim: int, bias: bool = True, bias_init: float = 0.0,
                 lr_mul: float = 1.0, activation: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim).div_(lr_mul))
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init))) if bias else None
        self.activation = activation
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.bias * self.lr_mul if self.bias is not None else None
        if self.activation:
            return fused_leaky_relu(F.linear(x, self.weight * self.scale), bias)
        return F.linear(x, self.weight * self.scale, bias)

    def extra_repr(self) -> str:
        return f"{self.weight.shape[1]}, {self.weight.shape[0]}, lr_mul={self.lr_mul}, activation={self.activation}"


class EqualConv2d(nn.Module):
    """Conv2d with equalised learning rate (weight N(0, 1) scaled by 1/sqrt(fan_in) at run time).

    Input: (B, C_in, H, W). Output: (B, C_out, H', W').
    """

    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channel, in_channel, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channel)) if bias else None
        self.scale = 1.0 / math.sqrt(in_channel * kernel_size ** 2)
        self.stride = stride
        self.padding = padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, stride=self.stride, padding=self.padding)

    def extra_repr(self) -> str:
        o, i, k, _ = self.weight.shape
        return f"{i}, {o}, {k}, stride={self.stride}, padding={self.padding}"


class FusedLeakyReLU(nn.Module):
    """Per-channel bias + leaky ReLU(0.2) * sqrt(2). Key: ``bias`` (C,) when ``bias=True``."""

    def __init__(self, channel: int, bias: bool = True):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channel)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fused_leaky_relu(x, self.bias)


class Blur(nn.Module):
    """FIR low-pass filter (no resampling) with padding ``pad``; buffer ``kernel`` (K, K).

    With ``upsample_factor`` f > 1 the kernel is multiplied by f**2 (it follows a stride-f transposed conv,
    whose zero insertion lowers the mean by f**2).
    """

    def __init__(self, kernel: Sequence[int], pad: tuple[int, int], upsample_factor: int = 1):
        super().__init__()
        k = make_blur_kernel(kernel)
        if upsample_factor > 1:
            k = k * upsample_factor ** 2
        self.register_buffer("kernel", k)
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, pad=self.pad)


class Upsample(nn.Module):
    """x2 (or x factor) upsampling: zero insertion + FIR filter; buffer ``kernel`` (K, K) = blur * factor**2.

    Input: (B, C, H, W). Output: (B, C, factor*H, factor*W).
    """

    def __init__(self, kernel: Sequence[int], factor: int = 2):
        super().__init__()
        self.factor = factor
        self.register_buffer("kernel", make_blur_kernel(kernel) * factor ** 2)
        p = self.kernel.shape[0] - factor
        self.pad = ((p + 1) // 2 + factor - 1, p // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, up=self.factor, pad=self.pad)


class ModulatedConv2d(nn.Module):
    """StyleGAN2 modulated convolution (optionally demodulated, optionally x2 upsampling).

    Mathematically the per-sample weights ``scale * weight * s_b`` (s_b = modulation(style_b), one factor per
    input channel) demodulated to unit norm per output channel. Computed in the equivalent unfused form: scale
    the input channels by s_b, run one convolution shared by the batch, scale the output channels by the
    demodulation factors ``rsqrt(s_b² · Σ_k (scale·weight)² + 1e-8)``. On CPU this is 2.5–4× faster (forward +
    backward) than folding the batch into a grouped convolution and gives the same images to ~1e-5.
    Upsampling is a stride-2 transposed convolution followed by the blur.

    Parameters: in_channel, out_channel, kernel_size, style_dim, demodulate, upsample, blur_kernel.
    Keys: ``weight`` (1, C_out, C_in, k, k), ``blur.kernel`` (upsampling only), ``modulation.{weight,bias}``.
    Input: x (B, C_in, H, W), style (B, style_dim). Output: (B, C_out, H, W) or (B, C_out, 2H, 2W).
    """

    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, style_dim: int,
                 demodulate: bool = True, upsample: bool = False,
                 blur_kernel: Sequence[int] = DEFAULT_BLUR_KERNEL):
        super().__init__()
        self.in_channel = in_channel
        self.out_channel = out_channel
        self.kernel_size = kernel_size
        self.upsample = upsample
        self.demodulate = demodulate
        if upsample:
            factor = 2
            p = (len(blur_kernel) - factor) - (kernel_size - 1)
            self.blur = Blur(blur_kernel, pad=((p + 1) // 2 + factor - 1, p // 2 + 1), upsample_factor=factor)
        self.scale = 1.0 / math.sqrt(in_channel * kernel_size ** 2)
        self.padding = kernel_size // 2
        self.weight = nn.Parameter(torch.randn(1, out_channel, in_channel, kernel_size, kernel_size))
        self.modulation = EqualLinear(style_dim, in_channel, bias_init=1.0)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        b, c_in = x.shape[:2]
        s = self.modulation(style)                                          # (B, C_in)
        weight = self.weight[0] * self.scale                                # (C_out, C_in, k, k)
        x = x * s.reshape(b, c_in, 1, 1)                                    # modulate the input channels
        if self.upsample:
            out = F.conv_transpose2d(x, weight.transpose(0, 1), stride=2)   # (B, C_out, 2H+1, 2W+1)
            out = self.blur(out)                                            # (B, C_out, 2H, 2W)
        else:
            out = F.conv2d(x, weight, padding=self.padding)                 # (B, C_out, H, W)
        if self.demodulate:
            demod = torch.rsqrt(s.square() @ weight.square().sum((2, 3)).t() + 1e-8)  # (B, C_out)
            out = out * demod.reshape(b, -1, 1, 1)
        return out

    def extra_repr(self) -> str:
        return (f"{self.in_channel}, {self.out_channel}, {self.kernel_size}, upsample={self.upsample}, "
                f"demodulate={self.demodulate}")


class NoiseInjection(nn.Module):
    """Adds ``weight * noise`` (one learned scalar, key ``weight`` (1,)); noise (B or 1, 1, H, W)."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        if noise is None:
            return x
        return x + self.weight * noise


class ConstantInput(nn.Module):
    """The learned 4x4 input tensor, key ``input`` (1, C, 4, 4), repeated over the batch."""

    def __init__(self, channel: int, size: int = 4):
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channel, size, size))

    def forward(self, batch: int) -> torch.Tensor:
        return self.input.expand(batch, -1, -1, -1)                         # (B, C, 4, 4)


class StyledConv(nn.Module):
    """Modulated 3x3 conv (optionally x2 up) -> noise injection -> bias + leaky ReLU * sqrt(2).

    Keys: ``conv.*``, ``noise.weight``, ``activate.bias``.
    """

    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, style_dim: int,
                 upsample: bool = False, blur_kernel: Sequence[int] = DEFAULT_BLUR_KERNEL,
                 demodulate: bool = True):
        super().__init__()
        self.conv = ModulatedConv2d(in_channel, out_channel, kernel_size, style_dim, demodulate=demodulate,
                                    upsample=upsample, blur_kernel=blur_kernel)
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_channel)

    def forward(self, x: torch.Tensor, style: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        return self.activate(self.noise(self.conv(x, style), noise))


class ToRGB(nn.Module):
    """Modulated 1x1 conv to RGB (no demodulation) + bias, plus the upsampled skip image.

    Keys: ``bias`` (1, 3, 1, 1), ``upsample.kernel`` (when ``upsample``), ``conv.*``.
    Input: x (B, C, H, W), style (B, D), skip (B, 3, H/2, W/2) or None. Output: (B, 3, H, W).
    """

    def __init__(self, in_channel: int, style_dim: int, upsample: bool = True,
                 blur_kernel: Sequence[int] = DEFAULT_BLUR_KERNEL):
        super().__init__()
        if upsample:
            self.upsample = Upsample(blur_kernel)
        self.conv = ModulatedConv2d(in_channel, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x: torch.Tensor, style: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        out = self.conv(x, style) + self.bias
        if skip is not None:
            out = out + self.upsample(skip)
        return out


# ----------------------------------------------------------------------------------------------------------
# Generator


@dataclass
class GeneratorConfig:
    """Hyper-parameters of a :class:`Generator` (JSON-friendly through ``to_dict`` / ``from_dict``).

    ``channels`` (resolution -> width) overrides rosinality's table computed from ``channel_multiplier``;
    keys may be ints or strings (as JSON gives them back).
    """

    size: int
    style_dim: int = 512
    n_mlp: int = 8
    channel_multiplier: int = 2
    channels: dict[int, int] | None = None
    lr_mlp: float = 0.01
    blur_kernel: tuple[int, ...] = DEFAULT_BLUR_KERNEL

    def __post_init__(self) -> None:
        self.channels = _normalise_channels(self.channels)
        self.blur_kernel = tuple(int(v) for v in self.blur_kernel)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (channel keys as strings, blur kernel as a list)."""
        d = asdict(self)
        d["channels"] = None if self.channels is None else {str(k): v for k, v in sorted(self.channels.items())}
        d["blur_kernel"] = list(self.blur_kernel)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "GeneratorConfig":
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`InvalidArgumentError`."""
        return cls(**checked_fields(cls, d))


class Generator(nn.Module):
    """StyleGAN2 generator, state_dict-compatible with rosinality's ``Generator``.

    Parameters
    ----------
    size : output resolution (power of two >= 4).
    style_dim : dimension D of z and w (512).
    n_mlp : number of mapping layers (8).
    channel_multiplier : widens resolutions >= 64 in rosinality's table (1 for Talk-to-Edit's 128 px model,
        2 for 1024 px).
    blur_kernel : 1-D FIR taps of the resampling filter.
    lr_mlp : learning-rate multiplier of the mapping network (0.01).
    channels : optional override of the width table, resolution -> channels (int or str keys).

    Attributes: ``size``, ``style_dim``, ``n_latent`` (W+ entries, 2 log2(size) - 2), ``num_layers``
    (noise maps, 2 log2(size) - 3), ``log_size``, ``channels`` (the resolved table), ``config``.

    Main methods: ``mapping(z) -> w``, ``mean_latent(n, seed)``, ``synthesis(w, noise_mode)``; ``forward``
    keeps rosinality's signature.
    """

    def __init__(self, size: int, style_dim: int = 512, n_mlp: int = 8, channel_multiplier: int = 2,
                 blur_kernel: Sequence[int] = DEFAULT_BLUR_KERNEL, lr_mlp: float = 0.01,
                 channels: dict[int, int] | dict[str, int] | None = None):
        super().__init__()
        self._config = GeneratorConfig(size=size, style_dim=style_dim, n_mlp=n_mlp,
                                       channel_multiplier=channel_multiplier, channels=channels,
                                       lr_mlp=lr_mlp, blur_kernel=tuple(blur_kernel))
        self.size = size
        self.style_dim = style_dim
        self.log_size = _log2_size(size, "Generator")
        self.channels = _resolve_channels(size, channel_multiplier, self._config.channels, "Generator")
        self.num_layers = (self.log_size - 2) * 2 + 1
        self.n_latent = self.log_size * 2 - 2
        blur_kernel = self._config.blur_kernel

        # mapping network: keys style.1 .. style.{n_mlp} (style.0 is the parameter-free PixelNorm)
        self.style = nn.Sequential(
            PixelNorm(),
            *[EqualLinear(style_dim, style_dim, lr_mul=lr_mlp, activation=True) for _ in range(n_mlp)])

        c4 = self.channels[4]
        self.input = ConstantInput(c4)
        self.conv1 = StyledConv(c4, c4, 3, style_dim, blur_kernel=blur_kernel)
        self.to_rgb1 = ToRGB(c4, style_dim, upsample=False)

        self.convs = nn.ModuleList()      # per resolution: [up-conv, conv]
        self.upsamples = nn.ModuleList()  # unused; kept so the module tree matches rosinality's
        self.to_rgbs = nn.ModuleList()
        self.noises = nn.Module()         # fixed noise maps noise_0 .. noise_{num_layers-1}
        for i in range(self.num_layers):
            res = 2 ** ((i + 5) // 2)     # 4, 8, 8, 16, 16, ...
            self.noises.register_buffer(f"noise_{i}", torch.randn(1, 1, res, res))

        in_channel = c4
        for r in range(3, self.log_size + 1):
            out_channel = self.channels[2 ** r]
            self.convs.append(StyledConv(in_channel, out_channel, 3, style_dim, upsample=True,
                                         blur_kernel=blur_kernel))
            self.convs.append(StyledConv(out_channel, out_channel, 3, style_dim, blur_kernel=blur_kernel))
            self.to_rgbs.append(ToRGB(out_channel, style_dim, blur_kernel=blur_kernel))
            in_channel = out_channel

    # -- configuration --------------------------------------------------------------------------------------

    @property
    def config(self) -> GeneratorConfig:
        """A copy of the configuration this generator was built from."""
        return GeneratorConfig.from_dict(self._config.to_dict())

    @classmethod
    def from_config(cls, cfg: GeneratorConfig | dict[str, Any]) -> "Generator":
        """Build a generator from a :class:`GeneratorConfig` (or its ``to_dict()`` form)."""
        if isinstance(cfg, dict):
            cfg = GeneratorConfig.from_dict(cfg)
        return cls(size=cfg.size, style_dim=cfg.style_dim, n_mlp=cfg.n_mlp,
                   channel_multiplier=cfg.channel_multiplier, blur_kernel=cfg.blur_kernel,
                   lr_mlp=cfg.lr_mlp, channels=cfg.channels)

    # -- mapping --------------------------------------------------------------------------------------------

    def mapping(self, z: torch.Tensor, pixel_norm: bool = True) -> torch.Tensor:
        """Mapping network z -> w.

        Input: z (B, style_dim). ``pixel_norm=False`` skips the leading PixelNorm (Talk-to-Edit's field
        functions map through the MLP layers alone).
        Output: w (B, style_dim).
        """
        if z.ndim != 2 or z.shape[1] != self.style_dim:
            raise InvalidArgumentError(f"mapping expects z of shape (B, {self.style_dim}), got {tuple(z.shape)}")
        layers = self.style if pixel_norm else self.style[1:]
        return layers(z)                                                    # (B, D)

    @torch.no_grad()
    def mean_latent(self, n: int = 4096, seed: int = 0) -> torch.Tensor:
        """Mean of ``mapping(z)`` over ``n`` z ~ N(0, I) drawn from a local RNG seeded with ``seed``.

        Deterministic for a seed; the global RNG is untouched. Output: (1, style_dim).
        """
        gen = torch.Generator(device="cpu").manual_seed(int(seed))
        z = torch.randn(n, self.style_dim, generator=gen)
        p = self.input.input
        return self.mapping(z.to(device=p.device, dtype=p.dtype)).mean(0, keepdim=True)  # (1, D)

    # -- synthesis ------------------------------------------------------------------------------------------

    def make_noise(self, batch: int = 1, generator: torch.Generator | None = None) -> list[torch.Tensor]:
        """Fresh N(0, 1) noise maps, one per layer: [(batch, 1, 4, 4), (batch, 1, 8, 8), ...]."""
        p = self.input.input
        rng_device = generator.device if generator is not None else p.device
        out = []
        for i in range(self.num_layers):
            res = 2 ** ((i + 5) // 2)
            n = torch.randn(batch, 1, res, res, generator=generator, device=rng_device)
            out.append(n.to(device=p.device, dtype=p.dtype))                # (batch, 1, res, res)
        return out

    def _noise_list(self, noise_mode: str, batch: int) -> list[torch.Tensor | None]:
        if noise_mode == "const":
            return [getattr(self.noises, f"noise_{i}") for i in range(self.num_layers)]
        if noise_mode == "random":
            return self.make_noise(batch)
        if noise_mode == "none":
            return [None] * self.num_layers
        raise InvalidArgumentError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")

    def _to_wplus(self, w: torch.Tensor) -> torch.Tensor:
        """(B, D) -> (B, n_latent, D); (B, n_latent, D) passes through; anything else is an error."""
        if w.ndim == 2 and w.shape[1] == self.style_dim:
            return w.unsqueeze(1).expand(-1, self.n_latent, -1)
        if w.ndim == 3 and w.shape[1:] == (self.n_latent, self.style_dim):
            return w
        raise InvalidArgumentError(
            f"synthesis expects w of shape (B, {self.style_dim}) or (B, {self.n_latent}, {self.style_dim}), "
            f"got {tuple(w.shape)}")

    def synthesis(self, w: torch.Tensor, noise_mode: str = "const",
                  noise: Sequence[torch.Tensor | None] | None = None) -> torch.Tensor:
        """Render images from W or W+ latents (differentiable w.r.t. ``w``).

        Input
        -----
        w : (B, style_dim), broadcast to every layer, or W+ (B, n_latent, style_dim).
        noise_mode : "const" (the stored ``noises.noise_i`` buffers, as Talk-to-Edit), "random" (fresh
            N(0, 1) per sample and call) or "none" (no noise).
        noise : optional explicit list of ``num_layers`` noise maps (B or 1, 1, res, res); overrides
            ``noise_mode``.

        Output
        ------
        (B, 3, size, size), nominally in [-1, 1]; not clamped.
        """
        latent = self._to_wplus(w)                                          # (B, n_latent, D)
        batch = latent.shape[0]
        if noise is None:
            noise = self._noise_list(noise_mode, batch)
        elif len(noise) != self.num_layers:
            raise InvalidArgumentError(f"expected {self.num_layers} noise maps, got {len(noise)}")

        out = self.input(batch)                                             # (B, C4, 4, 4)
        out = self.conv1(out, latent[:, 0], noise[0])
        skip = self.to_rgb1(out, latent[:, 1])                              # (B, 3, 4, 4)
        i = 1
        for up_conv, conv, to_rgb, n1, n2 in zip(self.convs[::2], self.convs[1::2], self.to_rgbs,
                                                  noise[1::2], noise[2::2]):
            out = up_conv(out, latent[:, i], n1)                            # (B, C, 2H, 2W)
            out = conv(out, latent[:, i + 1], n2)
            skip = to_rgb(out, latent[:, i + 2], skip)                      # (B, 3, 2H, 2W)
            i += 2
        return skip                                                         # (B, 3, size, size)

    def forward(self, styles: torch.Tensor | Sequence[torch.Tensor], return_latents: bool = False,
                inject_index: int | None = None, truncation: float = 1.0,
                truncation_latent: torch.Tensor | None = None, input_is_latent: bool = False,
                noise: Sequence[torch.Tensor | None] | None = None,
                randomize_noise: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        """rosinality-compatible entry point: returns ``(image, latent or None)``.

        ``styles`` is a tensor or a list of one or two tensors (z, or w / W+ with ``input_is_latent``);
        two entries mix styles at ``inject_index`` (random when None). Truncation towards
        ``truncation_latent`` applies when ``truncation < 1``. Without ``noise``, ``randomize_noise``
        chooses between fresh noise and the stored buffers.
        """
        if isinstance(styles, torch.Tensor):
            styles = [styles]
        styles = list(styles)
        if not input_is_latent:
            styles = [self.mapping(s) for s in styles]
        if truncation < 1:
            if truncation_latent is None:
                raise InvalidArgumentError("truncation < 1 needs a truncation_latent")
            styles = [truncation_latent + truncation * (s - truncation_latent) for s in styles]
        if len(styles) < 2:
            latent = self._to_wplus(styles[0])
        else:
            if inject_index is None:
                inject_index = random.randint(1, self.n_latent - 1)
            latent = torch.cat([styles[0].unsqueeze(1).expand(-1, inject_index, -1),
                                styles[1].unsqueeze(1).expand(-1, self.n_latent - inject_index, -1)], dim=1)
        if noise is None:
            noise = self._noise_list("random" if randomize_noise else "const", latent.shape[0])
        image = self.synthesis(latent, noise=noise)
        return image, (latent if return_latents else None)


# ----------------------------------------------------------------------------------------------------------
# Discriminator


class ConvLayer(nn.Sequential):
    """[Blur ->] EqualConv2d [-> FusedLeakyReLU]; rosinality's ``ConvLayer`` (a Sequential, keys by index).

    With ``activate`` the bias lives in the activation (``{i}.bias``), otherwise in the conv when ``bias``.
    ``downsample`` blurs then convolves with stride 2. Input: (B, C_in, H, W). Output: (B, C_out, H', W').
    """

    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, downsample: bool = False,
                 blur_kernel: Sequence[int] = DEFAULT_BLUR_KERNEL, bias: bool = True, activate: bool = True):
        layers: list[nn.Module] = []
        if downsample:
            p = (len(blur_kernel) - 2) + (kernel_size - 1)
            layers.append(Blur(blur_kernel, pad=((p + 1) // 2, p // 2)))
            stride, padding = 2, 0
        else:
            stride, padding = 1, kernel_size // 2
        layers.append(EqualConv2d(in_channel, out_channel, kernel_size, stride=stride, padding=padding,
                                  bias=bias and not activate))
        if activate:
            layers.append(FusedLeakyReLU(out_channel, bias=bias))
        super().__init__(*layers)


class ResBlock(nn.Module):
    """Residual block: two 3x3 convs (the second halves the resolution) + 1x1 downsampling skip, / sqrt(2).

    Input: (B, C_in, H, W). Output: (B, C_out, H/2, W/2).
    """

    def __init__(self, in_channel: int, out_channel: int, blur_kernel: Sequence[int] = DEFAULT_BLUR_KERNEL):
        super().__init__()
        self.conv1 = ConvLayer(in_channel, in_channel, 3, blur_kernel=blur_kernel)
        self.conv2 = ConvLayer(in_channel, out_channel, 3, downsample=True, blur_kernel=blur_kernel)
        self.skip = ConvLayer(in_channel, out_channel, 1, downsample=True, blur_kernel=blur_kernel,
                              activate=False, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.conv2(self.conv1(x)) + self.skip(x)) / math.sqrt(2.0)


@dataclass
class DiscriminatorConfig:
    """Hyper-parameters of a :class:`Discriminator` (JSON-friendly through ``to_dict`` / ``from_dict``)."""

    size: int
    channel_multiplier: int = 2
    channels: dict[int, int] | None = None
    blur_kernel: tuple[int, ...] = DEFAULT_BLUR_KERNEL

    def __post_init__(self) -> None:
        self.channels = _normalise_channels(self.channels)
        self.blur_kernel = tuple(int(v) for v in self.blur_kernel)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["channels"] = None if self.channels is None else {str(k): v for k, v in sorted(self.channels.items())}
        d["blur_kernel"] = list(self.blur_kernel)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DiscriminatorConfig":
        return cls(**checked_fields(cls, d))


class Discriminator(nn.Module):
    """StyleGAN2 residual discriminator, state_dict-compatible with rosinality's ``Discriminator``.

    Parameters: size, channel_multiplier, blur_kernel, channels (optional width table override).
    Input: images (B, 3, size, size). Output: logits (B, 1).

    Minibatch standard deviation: samples are split into ``group`` interleaved groups (sample b belongs to
    member b // (B / group)), group = min(B, 4) as in rosinality; when B is not divisible by that (where
    rosinality raises), the largest divisor of B below 4 is used instead.
    """

    stddev_group = 4
    stddev_feat = 1

    def __init__(self, size: int, channel_multiplier: int = 2, blur_kernel: Sequence[int] = DEFAULT_BLUR_KERNEL,
                 channels: dict[int, int] | dict[str, int] | None = None):
        super().__init__()
        self._config = DiscriminatorConfig(size=size, channel_multiplier=channel_multiplier, channels=channels,
                                           blur_kernel=tuple(blur_kernel))
        self.size = size
        log_size = _log2_size(size, "Discriminator")
        ch = _resolve_channels(size, channel_multiplier, self._config.channels, "Discriminator")
        blur_kernel = self._config.blur_kernel

        convs: list[nn.Module] = [ConvLayer(3, ch[size], 1)]
        in_channel = ch[size]
        for r in range(log_size, 2, -1):
            out_channel = ch[2 ** (r - 1)]
            convs.append(ResBlock(in_channel, out_channel, blur_kernel))
            in_channel = out_channel
        self.convs = nn.Sequential(*convs)
        self.final_conv = ConvLayer(in_channel + 1, ch[4], 3)
        self.final_linear = nn.Sequential(EqualLinear(ch[4] * 4 * 4, ch[4], activation=True),
                                          EqualLinear(ch[4], 1))

    @property
    def config(self) -> DiscriminatorConfig:
        return DiscriminatorConfig.from_dict(self._config.to_dict())

    @classmethod
    def from_config(cls, cfg: DiscriminatorConfig | dict[str, Any]) -> "Discriminator":
        if isinstance(cfg, dict):
            cfg = DiscriminatorConfig.from_dict(cfg)
        return cls(size=cfg.size, channel_multiplier=cfg.channel_multiplier, blur_kernel=cfg.blur_kernel,
                   channels=cfg.channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1:] != (3, self.size, self.size):
            raise InvalidArgumentError(
                f"Discriminator expects images (B, 3, {self.size}, {self.size}), got {tuple(x.shape)}")
        out = self.convs(x)                                                 # (B, C4, 4, 4)
        b, c, h, w = out.shape
        group = min(b, self.stddev_group)
        while b % group:
            group -= 1
        f = self.stddev_feat
        y = out.reshape(group, -1, f, c // f, h, w)                         # (G, B/G, F, C/F, H, W)
        y = torch.sqrt(y.var(0, unbiased=False) + 1e-8)                     # (B/G, F, C/F, H, W)
        y = y.mean(dim=(2, 3, 4), keepdim=True).squeeze(2)                  # (B/G, F, 1, 1)
        y = y.repeat(group, 1, h, w)                                        # (B, F, H, W)
        out = self.final_conv(torch.cat([out, y], dim=1))                   # (B, C4, 4, 4)
        return self.final_linear(out.reshape(b, -1))                        # (B, 1)
