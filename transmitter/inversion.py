"""GAN inversion: the image semantic encoder SE_I (paper eq. 8–9).

The latent w (one 512-vector per image, broadcast to every layer) is optimised from the generator's mean
latent so that G(w) matches the image:

    J(w) = λ_inv · MSE(G(w), S_I) + LPIPS(G(w), S_I)          (eq. 8)
    w ← w − η_inv · Adam(∇_w J)                                (eq. 9, r_inv iterations)

The generator is never fine-tuned: sender and receiver must hold identical weights, so only w moves.
Several images are inverted together; every image has its own loss and Adam's moments are element-wise, so a
batch gives the same latents as one-by-one inversion (up to floating-point summation order). Images larger
than 256 px are average-pooled to 256 px for the LPIPS term.
Optional StyleGAN2-projector style ramps: a cosine learning-rate ramp-down / linear ramp-up and a decaying
latent noise (off by default: the paper uses a constant rate).

Degree guard (our addition, :class:`DegreeGuard`; on in the transmitter, ``InversionConfig.keep_degrees``): the
loss, rate and step count stay the paper's, but instead of the last iterate the inversion returns, per image, the
iterate with the lowest J among those on which the attribute predictor P reads the same degrees as on the photo
(the last iterate when no iterate qualifies). MSE + LPIPS barely see a mouth corner: from a start that shows the
right smile, the first Adam steps at η = 0.1 often trade it for a better pixel fit (on 40 held-out renders the
evaluation predictor's smiling-degree agreement falls from 92.5 % at step 0 to 77.5–85 % over the run, ramps or not),
and JECC then edits from the wrong degree. Costs one P forward pass per step.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable

import torch

from shared.errors import InvalidArgumentError
from shared.lpips import LOSS_MAX_SIZE, pool_to

CPU_BATCH = 8   # images per inversion batch on CPU: 48 ms per image-step at 8, 50 at 10, 65 at 16, 148 at 50 (2 cores)


def batch_size(device: torch.device | str, requested: int) -> int:
    """How many images to invert together: ``requested``, capped at :data:`CPU_BATCH` on the CPU, where larger
    batches fall out of cache and cost more per image."""
    return requested if torch.device(device).type == "cuda" else max(1, min(requested, CPU_BATCH))


ProgressFn = Callable[[int, int, torch.Tensor], None]  # (iteration, total, per-image loss (B,))


@dataclass
class InversionConfig:
    """Hyper-parameters of the inversion (defaults: the paper's).

    Parameters
    ----------
    steps : r_inv, the number of iterations (110).
    lr : η_inv, Adam's learning rate (0.1).
    lambda_mse : λ_inv, the weight of the pixel MSE (1.0).
    lr_rampdown : fraction of the run over which the rate ramps down to 0 with a cosine (0 = constant rate).
    lr_rampup : fraction of the run over which the rate ramps up linearly from 0 (0 = off).
    noise_strength : initial latent noise, as a multiple of the latent's standard deviation (0 = off).
    noise_ramp : fraction of the run over which the latent noise decays (quadratically) to zero.
    loss_size : images larger than this are average-pooled to it for the LPIPS term (256).
    keep_degrees : return the lowest-J iterate whose degrees P reads as on the photo (see the module docstring;
        applied by the transmitter, which owns P; False = the paper's last iterate).
    init : where the transmitter starts: ``"mean"`` latent, ``"encoder"`` (the image's reading by the identity
        encoder and predictor through the bundle's latent layout) or ``"auto"`` (encoder when the bundle allows
        it); see :mod:`transmitter.inversion_init`. :func:`invert` itself starts from its ``w_init``.
    """

    steps: int = 110
    lr: float = 0.1
    lambda_mse: float = 1.0
    lr_rampdown: float = 0.0
    lr_rampup: float = 0.0
    noise_strength: float = 0.0
    noise_ramp: float = 0.75
    loss_size: int = LOSS_MAX_SIZE
    keep_degrees: bool = True
    init: str = "auto"

    def __post_init__(self) -> None:
        if not isinstance(self.keep_degrees, bool):
            raise InvalidArgumentError(f"keep_degrees must be True or False, got {self.keep_degrees!r}")
        if self.init not in ("auto", "mean", "encoder"):
            raise InvalidArgumentError(f"inversion init must be 'auto', 'mean' or 'encoder', got {self.init!r}")
        if not (isinstance(self.steps, int) and 0 <= self.steps <= 10_000):
            raise InvalidArgumentError(f"inversion steps must be an integer in [0, 10000], got {self.steps!r}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise InvalidArgumentError(f"inversion learning rate must be positive, got {self.lr!r}")
        for name in ("lr_rampdown", "lr_rampup", "noise_ramp"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise InvalidArgumentError(f"{name} must lie in [0, 1], got {value!r}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class InversionResult:
    """Output of :func:`invert`.

    w : (B, D) the inverted latents (detached).
    loss, mse, lpips : (B,) the final per-image objective and its terms, measured on G(w) after the last step.
    image : (B, 3, H, W) G(w) after the last step (detached).
    history : (steps, B) per-iteration objective.
    step : (B,) the iteration whose latent was returned (``steps`` = after the last step; earlier only with a guard).
    guarded : (B,) bool, True where the returned latent passed the guard (all True without a guard).
    With a :class:`DegreeGuard` ``w``, ``loss``, ``mse``, ``lpips`` and ``image`` describe the returned iterate.
    """

    w: torch.Tensor
    loss: torch.Tensor
    mse: torch.Tensor
    lpips: torch.Tensor
    image: torch.Tensor
    history: torch.Tensor
    step: torch.Tensor
    guarded: torch.Tensor


class DegreeGuard:
    """Accepts an iterate when P reads every attribute's degree from G(w) as it reads it from the photo.

    Parameters
    ----------
    predictor : the attribute predictor P (``predict(images).degree`` (B, m)).
    target : (B, 3, R, R) the photos being inverted; P reads their degrees once, here.

    Input: images (B, 3, R, R), G(w) of the current iterates. Output: (B,) bool.
    """

    def __init__(self, predictor: torch.nn.Module, target: torch.Tensor):
        self.predictor = predictor
        self.degrees = predictor.predict(target).degree                          # (B, m)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        degree = self.predictor.predict(images).degree.to(self.degrees.device)   # (B, m)
        return (degree == self.degrees).all(dim=1)                               # (B,)


def learning_rate(config: InversionConfig, t: float) -> float:
    """The learning rate at progress ``t`` in [0, 1] (constant unless ramps are set)."""
    scale = 1.0
    if config.lr_rampdown > 0:
        ramp = min(1.0, (1.0 - t) / config.lr_rampdown)
        scale *= 0.5 - 0.5 * math.cos(ramp * math.pi)
    if config.lr_rampup > 0:
        scale *= min(1.0, t / config.lr_rampup)
    return config.lr * scale


def per_image_objective(image: torch.Tensor, target: torch.Tensor, lpips_fn: torch.nn.Module,
                        lambda_mse: float, loss_size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """J per image (eq. 8): returns (loss, mse, lpips), each (B,)."""
    mse = (image - target).pow(2).flatten(1).mean(1)                          # (B,)
    perceptual = lpips_fn(pool_to(image, loss_size), pool_to(target, loss_size)).reshape(-1)  # (B,)
    return lambda_mse * mse + perceptual, mse, perceptual


def invert(generator: torch.nn.Module, target: torch.Tensor, lpips_fn: torch.nn.Module,
           config: InversionConfig | None = None, w_init: torch.Tensor | None = None,
           w_std: float | None = None, progress: ProgressFn | None = None,
           seed: int = 0, guard: Callable[[torch.Tensor], torch.Tensor] | None = None) -> InversionResult:
    """Invert a batch of images into W.

    Parameters
    ----------
    generator : a :class:`shared.models.stylegan2.Generator` (frozen here: its parameters are not updated).
    target : (B, 3, R, R) images in [−1, 1] at the generator's resolution R.
    lpips_fn : an LPIPS module (official weights), e.g. :func:`shared.lpips.get_lpips`.
    config : :class:`InversionConfig` (paper defaults when None).
    w_init : (B, D) or (1, D) start latent; the generator's mean latent when None.
    w_std : the latent's standard deviation (for the latent-noise ramp); estimated when needed and None.
    progress : called after every iteration with (iteration, total, per-image loss (B,)).
    seed : seeds the latent noise (only used when ``config.noise_strength > 0``).
    guard : e.g. a :class:`DegreeGuard`: images (B, 3, R, R) → (B,) bool. When given, every iterate (the start,
        each step's, the last) is scored and the lowest-J one that passes is returned (the last if none passes).

    Output
    ------
    :class:`InversionResult`
    """
    config = config or InversionConfig()
    if target.dim() != 4 or target.shape[1] != 3:
        raise InvalidArgumentError(f"inversion needs images of shape (B, 3, H, W), got {tuple(target.shape)}")
    size = generator.size
    if target.shape[-2:] != (size, size):
        raise InvalidArgumentError(f"images must be {size}x{size} for this generator, got {tuple(target.shape[-2:])}")
    if not torch.isfinite(target).all():
        raise InvalidArgumentError("image tensor contains NaN or Inf")

    param = next(generator.parameters())
    device, dtype = param.device, param.dtype
    target = target.to(device=device, dtype=dtype)
    batch = target.shape[0]
    if w_init is None:
        w_init = generator.mean_latent(4096)                                   # (1, D)
    w = w_init.detach().to(device=device, dtype=dtype).expand(batch, -1).clone()  # (B, D)
    w.requires_grad_(True)

    noise_gen = None
    if config.noise_strength > 0:
        noise_gen = torch.Generator(device="cpu").manual_seed(int(seed))
        if w_std is None:
            with torch.no_grad():
                z = torch.randn(4096, generator.style_dim, generator=torch.Generator().manual_seed(0))
                samples = generator.mapping(z.to(device=device, dtype=dtype))
                w_std = float(((samples - samples.mean(0)).pow(2).sum(1).mean()).sqrt())

    requires_grad = [p.requires_grad for p in generator.parameters()]
    for p in generator.parameters():
        p.requires_grad_(False)
    optimizer = torch.optim.Adam([w], lr=config.lr, betas=(0.9, 0.999))
    history = torch.empty(config.steps, batch)
    best = _Best(batch) if guard is not None else None
    try:
        for it in range(config.steps):
            t = it / max(1, config.steps)
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(config, t)
            w_in = w
            if noise_gen is not None:
                strength = w_std * config.noise_strength * max(0.0, 1.0 - t / max(config.noise_ramp, 1e-8)) ** 2
                if strength > 0:
                    noise = torch.randn(w.shape, generator=noise_gen).to(device=device, dtype=dtype)
                    w_in = w + noise * strength
            image = generator.synthesis(w_in)                                   # (B, 3, R, R)
            loss, mse, perceptual = per_image_objective(image, target, lpips_fn, config.lambda_mse,
                                                        config.loss_size)
            if best is not None and w_in is w:       # J of w itself (not of a noised w): a candidate
                best.offer(it, w, image, loss, mse, perceptual, guard(image.detach()))
            optimizer.zero_grad(set_to_none=True)
            loss.sum().backward()        # images are independent: the sum keeps every image's own gradient
            optimizer.step()
            history[it] = loss.detach().cpu()
            if progress is not None:
                progress(it + 1, config.steps, loss.detach())
        with torch.no_grad():
            image = generator.synthesis(w)
            loss, mse, perceptual = per_image_objective(image, target, lpips_fn, config.lambda_mse, config.loss_size)
            if best is not None:
                best.offer(config.steps, w, image, loss, mse, perceptual, guard(image))
    finally:
        for p, flag in zip(generator.parameters(), requires_grad):
            p.requires_grad_(flag)
    if best is not None:
        return best.result(history)
    return InversionResult(w=w.detach(), loss=loss.detach(), mse=mse.detach(), lpips=perceptual.detach(),
                           image=image.detach(), history=history,
                           step=torch.full((batch,), config.steps, dtype=torch.long),
                           guarded=torch.ones(batch, dtype=torch.bool))


class _Best:
    """Per image: the lowest-J iterate that passed the guard, else the latest iterate (the last one offered)."""

    def __init__(self, batch: int):
        self.state: dict[str, torch.Tensor] | None = None
        self.passed = torch.zeros(batch, dtype=torch.bool)

    def offer(self, step: int, w, image, loss, mse, perceptual, ok: torch.Tensor) -> None:
        new = {"w": w.detach(), "image": image.detach(), "loss": loss.detach(), "mse": mse.detach(),
               "lpips": perceptual.detach(), "step": torch.full_like(loss, step, dtype=torch.long)}
        ok = ok.cpu()
        if self.state is None:
            self.state = {k: v.clone() for k, v in new.items()}
            self.passed = ok.clone()
            return
        better = ok & (~self.passed | (new["loss"].cpu() < self.state["loss"].cpu()))
        take = better | (~self.passed & ~ok)         # nothing passed yet: follow the run
        idx = take.nonzero().flatten()
        for k, v in new.items():
            self.state[k][idx.to(v.device)] = v[idx.to(v.device)]
        self.passed |= ok

    def result(self, history: torch.Tensor) -> InversionResult:
        s = self.state
        return InversionResult(w=s["w"], loss=s["loss"], mse=s["mse"], lpips=s["lpips"], image=s["image"],
                               history=history, step=s["step"].cpu(), guarded=self.passed.clone())
