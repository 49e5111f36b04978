"""Training stage (a): the StyleGAN2 generator of the built-in bundle, distilled from the SynthFace renderer.

No face GAN exists offline, so the generator learns the SynthFace world directly: every latent z ~ N(0, I_512)
*is* a face, through a fixed transform of its first 30 coordinates into world parameters
(:func:`world_params_from_z`), and the generator is trained so that

    G.synthesis(G.mapping(z))  ≈  render(world_params_from_z(z))          (noise_mode "const")

with the loss

    λ_l1 · L1_edge-weighted + λ_lpips · LPIPS_alex + λ_grad · L1(∇G, ∇render) [+ λ_aux · aux] [+ λ_adv · adv]

(see :mod:`edsc.train.losses`; ``aux`` is a hook for e.g. the cross-entropy of an attribute predictor, ``adv`` an
optional non-saturating GAN term without R1 against a small StyleGAN2 discriminator, from step ``adv_start``).
Only the mapping network's 512 → W path is used: one w per face, broadcast to all layers, exactly what GAN
inversion (``transmitter.inversion``) optimises, so every training face is reachable by a single w. With
``mask_nuisance`` (default) the first mapping layer reads only the 30 world coordinates, so w — and the image — is
a function of the face alone; :func:`z_from_world_params` gives a z (hence w = G.mapping(z)) for any face, e.g. to
render labelled faces with G for later stages.

Evaluation (every ``eval_every`` steps, on g_ema): LPIPS / L1 / gradient-L1 between G's image and the render of
``eval_faces`` held-out faces drawn from the SynthFace prior (integer degrees), a sample grid, optionally an
``eval_hook`` (e.g. an evaluation predictor's accuracy on G's images) and, at the end, the paper's inversion
(110 Adam steps, lr 0.1, one w) of held-out renders (:func:`inversion_check`).

Speed: :class:`shared.models.stylegan2.ModulatedConv2d` computes the modulated convolution in the unfused
"modulate the input, shared-weight convolution, demodulate the output" form, ~4x faster backward on CPU than
folding the batch into a grouped convolution.

Runs are resumable: ``run_dir/checkpoint.pt`` holds G, g_ema, the optimisers, (D), the step and the RNG states;
every batch is drawn from a generator seeded by (seed, step), so a resumed run continues bit-for-bit on the same
device. Files in ``run_dir``: ``config.json``, ``checkpoint.pt``, ``losses.csv`` (one row per step),
``eval.jsonl`` (one JSON object per evaluation), ``samples/step_XXXXXX.png`` (renders over g_ema images),
``g_ema.safetensors`` + ``generator.json`` (the shipped generator and its :class:`GeneratorConfig`),
``metrics.json``.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm import tqdm

from edsc.train import losses as L
from edsc.train.loop import FitConfig, fit
from edsc.train.rundir import CSVLog
from edsc.train.schedule import lr_at, set_lr
from edsc.world.synthface import ATTRIBUTES, MAX_DEGREE, render, sample_degrees, sample_identity
from shared.atomic_io import save_safetensors_atomic, save_torch_atomic, write_json_atomic
from shared.config import pick_device
from shared.dataclass_config import checked_fields
from shared.errors import InvalidArgumentError
from shared.models import stylegan2 as sg
from shared.models import world_latent as WL

__all__ = [
    "WORLD_DIMS",
    "GeneratorTrainConfig",
    "world_params_from_z",
    "z_from_world_params",
    "degree_from_uniform",
    "uniform_from_degree",
    "build_generator",
    "batch_latents",
    "heldout_world_params",
    "generate_faces",
    "evaluate_generator",
    "inversion_check",
    "train_generator",
    "predictor_aux_loss",
    "predictor_eval_hook",
]

N_ID, N_ATTR = WL.N_ID, WL.N_ATTR    # 25 identity parameters, 5 attributes
WORLD_DIMS = WL.WORLD_DIMS          # 30 leading coordinates of z carry the face
# the z <-> world-parameter transform lives in shared (the transmitter starts its inversion from it)
world_params_from_z = WL.world_params_from_z
z_from_world_params = WL.z_from_world_params
degree_from_uniform = WL.degree_from_uniform
uniform_from_degree = WL.uniform_from_degree
_staircase = WL._staircase


# ----------------------------------------------------------------------------------------------------------
# Fast training path (same function, same parameters)


# ----------------------------------------------------------------------------------------------------------
# Configuration


def _default_channels() -> dict[int, int]:
    # 5.9 M parameters with n_mlp = 8 (2.1 M of them in the mapping). On CPU (oneDNN) 64/32 channels at 64/128 px
    # cost ~4 % more per step than 48/24 (widths that are not multiples of 16 fall off the fast kernels).
    return {4: 256, 8: 256, 16: 128, 32: 96, 64: 64, 128: 32}


def _default_d_channels() -> dict[int, int]:
    return {4: 128, 8: 128, 16: 128, 32: 96, 64: 48, 128: 24}


@dataclass
class GeneratorTrainConfig:
    """Hyper-parameters of generator training (JSON round trip: ``to_dict`` / ``from_dict``).

    Architecture: ``size``, ``channels`` (resolution -> width), ``style_dim``, ``n_mlp`` (mapping layers),
    ``lr_mlp`` (mapping learning-rate multiplier; StyleGAN's 0.01 freezes the mapping for a distillation run).
    Optimisation: ``batch``, ``steps``, Adam ``lr`` / ``betas``, linear ``warmup_steps`` then a cosine decay to
    ``lr * lr_final`` at ``steps``, optional ``grad_clip`` (0 = off).
    Loss weights: ``lambda_l1`` (edge-weighted L1 with extra weight ``edge_weight`` on target edges),
    ``lambda_lpips`` (LPIPS alex, official weights), ``lambda_grad`` (image-gradient L1), ``lambda_aux``
    (the ``aux_loss`` hook of :func:`train_generator`), ``lambda_attr`` (L1 weighted by where the render changes
    when one attribute of each face moves by one degree, :func:`edsc.train.losses.change_weight_map`; the attribute
    is drawn per face from ``attr_focus``, all five when empty, a name listed twice drawn twice as often; one extra
    render per step), ``lambda_adv`` (non-saturating GAN term from step
    ``adv_start``; discriminator ``d_channels`` / ``d_lr``).
    World: ``integer_fraction`` (share of integer degrees, see :func:`world_params_from_z`).
    Averaging: ``ema_decay`` (g_ema; ramped up as min(decay, (1+t)/(10+t))).
    Book-keeping: ``seed``, ``eval_every``, ``eval_faces`` (held-out faces, integer degrees), ``sample_faces``
    (faces in the sample grids), ``checkpoint_every``, ``inversion_faces`` / ``inversion_steps`` /
    ``inversion_every`` (GAN-inversion check of held-out renders; ``inversion_every = 0``: at the end only),
    ``device`` ("auto" / "cpu" / "cuda"), ``threads`` (torch CPU threads; None = leave as is),
    ``fast_path`` (kept for old configs; the shared generator is always fast now), ``mask_nuisance`` (the first mapping layer's weights on the
    ``style_dim - 30`` nuisance coordinates of z are zero and stay zero, so w is a function of the face alone;
    see :func:`build_generator`).
    """

    size: int = 128
    channels: dict[int, int] = field(default_factory=_default_channels)
    style_dim: int = 512
    n_mlp: int = 8
    lr_mlp: float = 1.0
    batch: int = 12
    steps: int = 6000
    lr: float = 2e-3
    betas: tuple[float, float] = (0.9, 0.99)
    warmup_steps: int = 100
    lr_final: float = 0.05
    grad_clip: float = 0.0
    lambda_l1: float = 1.0
    edge_weight: float = 3.0
    lambda_lpips: float = 1.0
    lambda_grad: float = 1.0
    lambda_aux: float = 0.0
    lambda_attr: float = 0.0
    attr_focus: list[str] = field(default_factory=list)
    lambda_attr_lpips: float = 0.0
    attr_crop: int = 64
    lambda_adv: float = 0.0
    adv_start: int = 0
    d_channels: dict[int, int] = field(default_factory=_default_d_channels)
    d_lr: float = 2e-3
    integer_fraction: float = 0.7
    ema_decay: float = 0.998
    noise_mode: str = "const"
    seed: int = 0
    eval_every: int = 250
    eval_faces: int = 64
    sample_faces: int = 8
    checkpoint_every: int = 250
    inversion_faces: int = 8
    inversion_steps: int = 110
    inversion_every: int = 0
    device: str = "auto"
    threads: int | None = None
    fast_path: bool = True
    mask_nuisance: bool = True

    def __post_init__(self) -> None:
        self.channels = {int(k): int(v) for k, v in self.channels.items()}
        self.d_channels = {int(k): int(v) for k, v in self.d_channels.items()}
        self.betas = tuple(float(b) for b in self.betas)
        if self.batch < 1 or self.steps < 0:
            raise InvalidArgumentError(f"batch must be >= 1 and steps >= 0, got {self.batch} and {self.steps}")
        if self.noise_mode not in sg.NOISE_MODES:
            raise InvalidArgumentError(f"noise_mode must be one of {sg.NOISE_MODES}, got {self.noise_mode!r}")
        if self.style_dim <= WORLD_DIMS:
            raise InvalidArgumentError(f"style_dim must exceed {WORLD_DIMS}, got {self.style_dim}")
        _staircase(self.integer_fraction)
        self.attr_focus = [str(a) for a in self.attr_focus]
        unknown = sorted(set(self.attr_focus) - set(ATTRIBUTES))
        if unknown:
            raise InvalidArgumentError(f"attr_focus names unknown attribute(s) {unknown}; known: {list(ATTRIBUTES)}")
        for name in ("eval_every", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise InvalidArgumentError(f"{name} must be >= 1, got {getattr(self, name)}")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["channels"] = {str(k): v for k, v in sorted(self.channels.items())}
        d["d_channels"] = {str(k): v for k, v in sorted(self.d_channels.items())}
        d["betas"] = list(self.betas)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "GeneratorTrainConfig":
        return cls(**checked_fields(cls, d))

    def generator_config(self) -> sg.GeneratorConfig:
        return sg.GeneratorConfig(size=self.size, style_dim=self.style_dim, n_mlp=self.n_mlp,
                                  channels=dict(self.channels), lr_mlp=self.lr_mlp)


# Fields that may change between a checkpoint and its resumption (they do not change what a step computes,
# except ``steps``, which stretches the cosine schedule from the resumed step on).
_RESUMABLE_CHANGES = {"steps", "eval_every", "eval_faces", "sample_faces", "checkpoint_every", "inversion_faces",
                      "inversion_steps", "inversion_every", "device", "threads"}


def build_generator(config: GeneratorTrainConfig) -> sg.Generator:
    """A freshly initialised generator for ``config``; the init depends on ``config.seed`` alone (the global RNG
    is left untouched).

    With ``config.mask_nuisance`` the first mapping layer reads only the 30 world coordinates of the
    pixel-normalised z: its other input weights are zeroed (and the 30 kept columns scaled by
    sqrt(style_dim / 30) so the activations keep their scale); training keeps them at zero
    (:func:`_mask_nuisance_grad`). The architecture and state_dict layout are unchanged.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        g = sg.Generator.from_config(config.generator_config())
    if config.mask_nuisance:
        with torch.no_grad():
            first = g.style[1].weight                                       # (D, D), stored (lr_mul-scaled)
            first[:, WORLD_DIMS:] = 0.0
            first[:, :WORLD_DIMS] *= math.sqrt(config.style_dim / WORLD_DIMS)
    return g


def _mask_nuisance_grad(g: sg.Generator) -> None:
    grad = g.style[1].weight.grad
    if grad is not None:
        grad[:, WORLD_DIMS:] = 0.0


def _build_discriminator(config: GeneratorTrainConfig) -> sg.Discriminator:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed + 1)
        return sg.Discriminator(config.size, channels=dict(config.d_channels))


def _stream_seed(seed: int, stream: int, index: int = 0) -> int:
    """Disjoint 63-bit seeds: stream 0 = training batches (index = step), 1 = eval faces, 2 = inversion faces,
    3 = sample nuisance."""
    return ((seed & 0xFFFFF) << 42) | ((stream & 0xFF) << 34) | (index & ((1 << 34) - 1))


def _move_one_degree(degrees: Tensor, config: GeneratorTrainConfig, step: int) -> Tensor:
    """``degrees`` (B, 5) with one attribute per face (drawn from ``config.attr_focus``) moved by one degree, up or
    down at random (the other way at the ends of the scale); a function of (seed, step) alone."""
    gen = torch.Generator(device="cpu").manual_seed(_stream_seed(config.seed, 6, step))
    focus = config.attr_focus or list(ATTRIBUTES)
    cols = torch.tensor([ATTRIBUTES.index(a) for a in focus])
    b = degrees.shape[0]
    col = cols[torch.randint(len(focus), (b,), generator=gen)]                  # (B,)
    step_dir = torch.randint(0, 2, (b,), generator=gen).float() * 2 - 1         # (B,) ±1
    rows = torch.arange(b)
    current = degrees[rows, col]
    step_dir = torch.where((current + step_dir < 0) | (current + step_dir > MAX_DEGREE), -step_dir, step_dir)
    moved = degrees.clone()
    moved[rows, col] = current + step_dir
    return moved


def batch_latents(config: GeneratorTrainConfig, step: int) -> Tensor:
    """The training latents of ``step`` (B, style_dim), on CPU: a function of (seed, step) alone."""
    gen = torch.Generator(device="cpu").manual_seed(_stream_seed(config.seed, 0, step))
    return torch.randn(config.batch, config.style_dim, generator=gen)


def heldout_world_params(n: int, seed: int, stream: int = 1) -> tuple[Tensor, Tensor]:
    """``n`` held-out world faces (identity (n, 25), integer degrees (n, 5)) from the SynthFace prior, on CPU."""
    gen = torch.Generator(device="cpu").manual_seed(_stream_seed(seed, stream))
    return sample_identity(n, gen), sample_degrees(n, gen)


# ----------------------------------------------------------------------------------------------------------
# Evaluation


@torch.no_grad()
def generate_faces(generator: sg.Generator, identity: Tensor, degrees: Tensor, noise_mode: str = "const",
                   batch: int = 32, seed: int = 0, integer_fraction: float = 0.7) -> Tensor:
    """G's image of each world face (through :func:`z_from_world_params` and the mapping network).

    Output: (B, 3, R, R) on the generator's device.
    """
    device = next(generator.parameters()).device
    gen = torch.Generator(device="cpu").manual_seed(_stream_seed(seed, 3))
    z = z_from_world_params(identity.cpu(), degrees.cpu(), generator.style_dim, gen, integer_fraction)
    outs = [generator.synthesis(generator.mapping(z[i:i + batch].to(device)), noise_mode=noise_mode)
            for i in range(0, z.shape[0], batch)]
    return torch.cat(outs)


@torch.no_grad()
def evaluate_generator(generator: sg.Generator, lpips_fn: torch.nn.Module, identity: Tensor, degrees: Tensor,
                       noise_mode: str = "const", batch: int = 32, integer_fraction: float = 0.7
                       ) -> tuple[dict[str, float], Tensor, Tensor]:
    """LPIPS / L1 / gradient-L1 between G's image of each face and its render.

    Output: (metrics {lpips, lpips_max, l1, grad_l1}, G images (B,3,R,R), renders (B,3,R,R)), on G's device.
    """
    device = next(generator.parameters()).device
    fake = generate_faces(generator, identity, degrees, noise_mode, batch, integer_fraction=integer_fraction)
    real = render(identity.to(device), degrees.to(device), generator.size)
    lp = torch.cat([lpips_fn(fake[i:i + batch], real[i:i + batch]) for i in range(0, fake.shape[0], batch)])
    metrics = {"lpips": float(lp.mean()), "lpips_max": float(lp.max()), "l1": float(L.l1(fake, real).mean()),
               "grad_l1": float(L.gradient_l1(fake, real).mean())}
    return metrics, fake, real


def inversion_check(generator: sg.Generator, lpips_fn: torch.nn.Module, n: int = 8, seed: int = 0,
                    steps: int = 110) -> tuple[dict[str, float], Tensor, Tensor]:
    """Invert ``n`` held-out renders (integer degrees) with the paper's inversion (Adam from the mean latent,
    lr 0.1, MSE + LPIPS, one w) and measure LPIPS(G(w*), render).

    Output: (metrics {inv_lpips, inv_lpips_max, inv_mse}, inverted images, renders), on G's device.
    """
    from transmitter.inversion import InversionConfig, invert

    device = next(generator.parameters()).device
    identity, degrees = heldout_world_params(n, seed, stream=2)
    target = render(identity.to(device), degrees.to(device), generator.size)
    result = invert(generator, target, lpips_fn, InversionConfig(steps=steps))
    metrics = {"inv_lpips": float(result.lpips.mean()), "inv_lpips_max": float(result.lpips.max()),
               "inv_mse": float(result.mse.mean())}
    return metrics, result.image, target


def _save_grid(rows: list[Tensor], path: Path) -> None:
    """Save image rows (each (N, 3, R, R) in [-1, 1]) as one PNG."""
    from PIL import Image

    grid = torch.cat([torch.cat(list(r.detach().float().cpu().clamp(-1, 1)), dim=2) for r in rows], dim=1)
    arr = ((grid + 1.0) * 127.5).round().byte().permute(1, 2, 0).numpy()
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


# ----------------------------------------------------------------------------------------------------------
# Training


def _truncate_jsonl(path: Path, last_step: int) -> list[dict]:
    if not path.is_file():
        return []
    items = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    items = [it for it in items if it["step"] <= last_step]
    path.write_text("".join(json.dumps(it, sort_keys=True) + "\n" for it in items))
    return items


_LOSS_COLUMNS = ["step", "loss", "l1", "lpips", "grad_l1", "aux", "adv_g", "adv_d", "lr", "sec", "cpu_sec", "attr", "attr_lpips"]

AuxLoss = Callable[[Tensor, Tensor, Tensor], Tensor]            # (images, identity, degrees) -> (B,) or scalar
EvalHook = Callable[[sg.Generator, int], dict[str, float]]     # (g_ema, step) -> extra metrics


def _attribute_columns(predictor: torch.nn.Module) -> list[int]:
    """For each of the predictor's attributes, its column in SynthFace's :data:`ATTRIBUTES` order."""
    missing = [a for a in predictor.attributes if a not in ATTRIBUTES]
    if missing:
        raise InvalidArgumentError(f"the predictor reads attribute(s) {missing} that SynthFace does not render")
    return [ATTRIBUTES.index(a) for a in predictor.attributes]


def predictor_aux_loss(predictor: torch.nn.Module) -> AuxLoss:
    """An ``aux_loss`` for :func:`train_generator`: a frozen attribute predictor's cross-entropy on G's image
    against the face's true degrees, averaged over the predictor's attributes.

    Fractional degrees become two-hot targets (d = 2.3 → 0.7 on degree 2, 0.3 on degree 3). The predictor's
    uint8 quantisation passes gradients straight through. It pushes G to draw what the predictor reads (eyeglass
    rims, mouth shape, bang edges), which LPIPS and L1 weigh little. Use the JECC predictor here, never the
    evaluation predictor that later scores G.

    Output: ``(images (B,3,R,R), identity (B,25), degrees (B,5)) -> (B,)``.
    """
    predictor = predictor.eval().requires_grad_(False)
    predictor.differentiable = True
    cols = _attribute_columns(predictor)
    u = predictor.max_degree

    def loss(images: Tensor, identity: Tensor, degrees: Tensor) -> Tensor:
        target = degrees[:, cols].clamp(0, u)                              # (B, m), predictor order
        low = target.floor()
        frac = (target - low).unsqueeze(-1)                                # (B, m, 1)
        low = low.long()
        high = (low + 1).clamp(max=u)
        soft = (F.one_hot(low, u + 1) * (1 - frac) + F.one_hot(high, u + 1) * frac)  # (B, m, u+1)
        logp = F.log_softmax(predictor(images).float(), dim=-1)            # (B, m, u+1)
        return -(soft * logp).sum(-1).mean(-1)                             # (B,)

    return loss


def predictor_eval_hook(predictor: torch.nn.Module, n: int = 64, seed: int = 0, batch: int = 32,
                        prefix: str = "eval_exact") -> EvalHook:
    """An ``eval_hook`` for :func:`train_generator`: the share of ``n`` held-out faces (integer degrees, stream 4)
    whose true degree ``predictor`` reads from G's image, per attribute (``{prefix}.{attribute}``) and the
    minimum over attributes (``{prefix}.min``) — the bundle report's generator check, during training.
    """
    predictor = predictor.eval().requires_grad_(False)
    cols = _attribute_columns(predictor)
    identity, degrees = heldout_world_params(n, seed, stream=4)

    def hook(g_ema: sg.Generator, step: int) -> dict[str, float]:
        device = next(g_ema.parameters()).device
        predictor.to(device)
        fake = generate_faces(g_ema, identity, degrees, batch=batch)
        read = torch.cat([predictor.predict(fake[i:i + batch]).degree for i in range(0, n, batch)]).cpu()
        exact = (read == degrees[:, cols].long()).float().mean(0)          # (m,)
        out = {f"{prefix}.{a}": float(exact[j]) for j, a in enumerate(predictor.attributes)}
        out[f"{prefix}.min"] = float(exact.min())
        return out

    return hook


def _ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    with torch.no_grad():
        for pe, p in zip(ema.parameters(), model.parameters()):
            pe.lerp_(p, 1.0 - decay)
        for be, b in zip(ema.buffers(), model.buffers()):
            be.copy_(b)


def train_generator(config: GeneratorTrainConfig, run_dir: str | os.PathLike, resume: bool = True,
                    progress: bool = True, aux_loss: AuxLoss | None = None, eval_hook: EvalHook | None = None,
                    max_seconds: float | None = None, stop_at: int | None = None,
                    init_from: str | os.PathLike | None = None) -> tuple[sg.Generator, dict[str, Any]]:
    """Train (or resume training) the generator; see the module docstring.

    Parameters
    ----------
    config : :class:`GeneratorTrainConfig`
    run_dir : directory for the checkpoint, logs, samples and the final generator (created if needed)
    resume : continue from ``run_dir/checkpoint.pt`` when present (otherwise start over, overwriting the logs)
    progress : tqdm progress bar on stderr
    aux_loss : optional extra loss ``(images (B,3,R,R), identity (B,25), degrees (B,5)) -> (B,) or scalar``
        weighted by ``config.lambda_aux`` (e.g. an attribute predictor's cross-entropy against ``degrees``)
    eval_hook : optional ``(g_ema, step) -> {name: value}`` merged into every evaluation record
    max_seconds : stop (checkpointed, resumable) once this much wall-clock time has been spent in this call,
        e.g. to split a run into chunks that fit a per-command time limit
    stop_at : stop (checkpointed, resumable) after this step
    init_from : a generator state (``g_ema.safetensors`` of an earlier run) that G and g_ema start from instead of
        the seeded initialisation, with a fresh optimiser and schedule: a second phase of training. Used only
        when the run starts (not when it resumes); recorded with its sha256 in ``init.json`` and the metrics.

    A stopped run returns the current g_ema and metrics with ``finished = False``; call again to continue.

    Output
    ------
    (g_ema, metrics): g_ema a plain :class:`shared.models.stylegan2.Generator` on the training device (eval mode),
    metrics the content of ``run_dir/metrics.json``.
    """
    if config.lambda_aux > 0 and aux_loss is None:
        raise InvalidArgumentError("lambda_aux > 0 needs an aux_loss")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if config.threads:
        torch.set_num_threads(int(config.threads))
    device = pick_device(config.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True    # the mapping MLP; convolutions use TF32 by default
        torch.backends.cudnn.benchmark = True           # fixed shapes: pick the fastest kernels once
    from shared.lpips import get_lpips

    lpips_fn = get_lpips("alex", device)

    G = build_generator(config).to(device)
    g_ema = copy.deepcopy(G).eval().requires_grad_(False)
    use_adv = config.lambda_adv > 0
    D = _build_discriminator(config).to(device) if use_adv else None
    opt_g = torch.optim.Adam(G.parameters(), lr=config.lr, betas=config.betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=config.d_lr, betas=(0.0, 0.99)) if use_adv else None

    ckpt_path = run_dir / "checkpoint.pt"
    loss_csv = run_dir / "losses.csv"
    eval_log = run_dir / "eval.jsonl"
    start = 0
    history: list[dict] = []
    if resume and ckpt_path.is_file():
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)   # load_state_dict moves to device
        defaults = GeneratorTrainConfig().to_dict()                        # fields added after the checkpoint
        old = {**defaults, **ckpt["config"]}
        new = config.to_dict()
        changed = sorted(k for k in new if k not in _RESUMABLE_CHANGES and old.get(k) != new[k])
        if changed:
            raise InvalidArgumentError(f"{ckpt_path} was trained with a different configuration ({changed}); "
                                       "use another run directory or resume=False")
        G.load_state_dict(ckpt["G"])
        g_ema.load_state_dict(ckpt["g_ema"])
        opt_g.load_state_dict(ckpt["opt_g"])
        if use_adv:
            D.load_state_dict(ckpt["D"])
            opt_d.load_state_dict(ckpt["opt_d"])
        torch.set_rng_state(ckpt["rng_cpu"])
        if device.type == "cuda" and ckpt.get("rng_cuda") is not None:
            torch.cuda.set_rng_state(ckpt["rng_cuda"].cpu(), device)
        start = int(ckpt["step"])
        history = _truncate_jsonl(eval_log, start)
    else:
        eval_log.write_text("")
        (run_dir / "init.json").unlink(missing_ok=True)
        if init_from is not None:
            _warm_start(G, g_ema, Path(init_from), run_dir / "init.json")
    log = CSVLog(loss_csv, _LOSS_COLUMNS, resume_step=start if start > 0 else None)
    write_json_atomic(run_dir / "config.json", config.to_dict(), sort_keys=True)

    eval_id, eval_deg = heldout_world_params(config.eval_faces, config.seed, stream=1)
    n_params = sum(p.numel() for p in G.parameters())

    def evaluate(step: int, with_inversion: bool) -> dict:
        rec: dict[str, Any] = {"step": step}
        m, fake, real = evaluate_generator(g_ema, lpips_fn, eval_id, eval_deg, config.noise_mode,
                                           integer_fraction=config.integer_fraction)
        rec.update(m)
        k = min(config.sample_faces, fake.shape[0])
        if k:
            _save_grid([real[:k], fake[:k]], run_dir / "samples" / f"step_{step:06d}.png")
        if with_inversion and config.inversion_faces > 0:
            im, inv_img, inv_target = inversion_check(g_ema, lpips_fn, config.inversion_faces, config.seed,
                                                      config.inversion_steps)
            rec.update(im)
            _save_grid([inv_target, inv_img], run_dir / "samples" / f"inversion_{step:06d}.png")
        if eval_hook is not None:
            rec.update(eval_hook(g_ema, step))
        return rec

    def checkpoint(step: int) -> None:
        state = {"step": step, "config": config.to_dict(), "G": G.state_dict(), "g_ema": g_ema.state_dict(),
                 "opt_g": opt_g.state_dict(), "rng_cpu": torch.get_rng_state(),
                 "rng_cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None}
        if use_adv:
            state["D"] = D.state_dict()
            state["opt_d"] = opt_d.state_dict()
        save_torch_atomic(state, ckpt_path)

    step_times: list[float] = []
    cpu_times: list[float] = []
    t_call = time.perf_counter()
    bar = tqdm(total=config.steps, initial=start, file=sys.stderr, disable=not progress, desc="generator",
               dynamic_ncols=True)
    G.train()

    def step(s: int) -> dict[str, Any]:
        t0, c0 = time.perf_counter(), time.process_time()
        z = batch_latents(config, s)                                        # (B, D) on CPU
        identity, degrees = world_params_from_z(z, config.integer_fraction)
        z = z.to(device)
        target = render(identity.to(device), degrees.to(device), config.size)  # (B, 3, R, R)
        image = G.synthesis(G.mapping(z), noise_mode=config.noise_mode)     # (B, 3, R, R)

        weight = L.edge_weight_map(target, config.edge_weight) if config.edge_weight > 0 else None
        t_l1 = L.weighted_l1(image, target, weight).mean()
        t_lp = lpips_fn(image, target).mean() if config.lambda_lpips > 0 else image.new_zeros(())
        t_gr = L.gradient_l1(image, target).mean() if config.lambda_grad > 0 else image.new_zeros(())
        loss = config.lambda_l1 * t_l1 + config.lambda_lpips * t_lp + config.lambda_grad * t_gr
        t_attr = image.new_zeros(())
        t_attr_lp = image.new_zeros(())
        if config.lambda_attr > 0 or config.lambda_attr_lpips > 0:
            moved = render(identity.to(device), _move_one_degree(degrees, config, s).to(device), config.size)
            change = L.change_weight_map(target, moved)                     # (B, 1, R, R)
            if config.lambda_attr > 0:
                t_attr = L.weighted_l1(image, target, change).mean()
                loss = loss + config.lambda_attr * t_attr
            if config.lambda_attr_lpips > 0:
                boxes = L.change_boxes(change)                              # (B, 4)
                t_attr_lp = lpips_fn(L.crop_boxes(image, boxes, config.attr_crop),
                                     L.crop_boxes(target, boxes, config.attr_crop)).mean()
                loss = loss + config.lambda_attr_lpips * t_attr_lp
        t_aux = image.new_zeros(())
        if config.lambda_aux > 0:
            t_aux = aux_loss(image, identity.to(device), degrees.to(device)).mean()
            loss = loss + config.lambda_aux * t_aux
        adv_g = adv_d = image.new_zeros(())
        adv_on = use_adv and s >= config.adv_start
        if adv_on:
            D.requires_grad_(False)
            adv_g = F.softplus(-D(image)).mean()
            loss = loss + config.lambda_adv * adv_g
        opt_g.zero_grad(set_to_none=True)
        loss.backward()
        if config.mask_nuisance:
            _mask_nuisance_grad(G)
        if config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(G.parameters(), config.grad_clip)
        opt_g.step()
        if adv_on:
            D.requires_grad_(True)
            set_lr(opt_d, lr_at(s, config.d_lr, config.steps, config.warmup_steps, config.lr_final))
            adv_d = F.softplus(D(image.detach())).mean() + F.softplus(-D(target)).mean()
            opt_d.zero_grad(set_to_none=True)
            adv_d.backward()
            opt_d.step()
        _ema_update(g_ema, G, min(config.ema_decay, (1.0 + s) / (10.0 + s)))

        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        step_times.append(dt)
        cpu_times.append(dc)
        done = s + 1
        vals = [float(v.detach()) for v in (loss, t_l1, t_lp, t_gr, t_aux, adv_g, adv_d, t_attr, t_attr_lp)]
        bar.set_postfix(loss=f"{vals[0]:.4f}", lpips=f"{vals[2]:.3f}",
                        ev=f"{history[-1]['lpips']:.3f}" if history else "-")
        if done % config.eval_every == 0 or done == config.steps:
            inv = done == config.steps or (config.inversion_every > 0 and done % config.inversion_every == 0)
            rec = evaluate(done, inv)
            rec["sec_per_step"] = float(torch.tensor(step_times[-config.eval_every:]).median())
            rec["cpu_sec_per_step"] = float(torch.tensor(cpu_times[-config.eval_every:]).median())
            history.append(rec)
            with open(eval_log, "a") as fh:
                fh.write(json.dumps(rec, sort_keys=True) + "\n")
            G.train()
        return {**dict(zip(_LOSS_COLUMNS[1:8], vals[:7])), "sec": f"{dt:.4f}", "cpu_sec": f"{dc:.4f}",
                "attr": vals[7], "attr_lpips": vals[8]}

    def save(done: int) -> None:
        checkpoint(done)
        _export(g_ema, config, run_dir)

    loop = FitConfig(steps=config.steps, lr=config.lr, warmup=config.warmup_steps, final_frac=config.lr_final,
                     checkpoint_every=config.checkpoint_every, log_every=1, log_fields=_LOSS_COLUMNS)
    stopped = fit(step, loop, None, None, model=G, optimizer=opt_g, start=start, log=log, bar=bar, t0=t_call,
                  time_limit=max_seconds, checkpoint=save, stop_at=stop_at) is not None
    bar.close()
    step_now = start + len(step_times)

    if not stopped and (not history or history[-1]["step"] != config.steps):
        # nothing left to train (resumed a finished run) or steps == 0: evaluate what we have
        rec = evaluate(max(start, config.steps), True)
        history.append(rec)
        with open(eval_log, "a") as fh:
            fh.write(json.dumps(rec, sort_keys=True) + "\n")
        _export(g_ema, config, run_dir)

    metrics = {
        "step": step_now if stopped else max(start, config.steps),
        "finished": not stopped,
        "device": str(device),
        "parameters": n_params,
        "parameters_mapping": sum(p.numel() for p in G.style.parameters()),
        "sec_per_step_median": float(torch.tensor(step_times).median()) if step_times else None,
        "cpu_sec_per_step_median": float(torch.tensor(cpu_times).median()) if cpu_times else None,
        "final": history[-1] if history else None,
        "init_from": json.loads((run_dir / "init.json").read_text()) if (run_dir / "init.json").is_file() else None,
        "history": history,
        "config": config.to_dict(),
    }
    write_json_atomic(run_dir / "metrics.json", metrics, sort_keys=True)
    out = sg.Generator.from_config(config.generator_config()).to(device)
    out.load_state_dict(g_ema.state_dict())
    return out.eval().requires_grad_(False), metrics


def _warm_start(G: sg.Generator, g_ema: sg.Generator, path: Path, record: Path) -> None:
    """Load a saved generator state into G and g_ema (float16 tensors are cast back) and record where from."""
    from safetensors.torch import load_file

    from shared.bundle import sha256_file

    if not path.is_file():
        raise InvalidArgumentError(f"init_from {path} does not exist")
    state = load_file(str(path))
    try:
        G.load_state_dict(state)
    except RuntimeError as exc:
        raise InvalidArgumentError(f"init_from {path} does not fit this generator's configuration: {exc}") from None
    g_ema.load_state_dict(G.state_dict())
    write_json_atomic(record, {"path": str(path), "sha256": sha256_file(path)}, sort_keys=True)


def _export(g_ema: sg.Generator, config: GeneratorTrainConfig, run_dir: Path) -> None:
    """Write the shipped generator: ``g_ema.safetensors`` (rosinality keys) + ``generator.json`` (its config and
    the world transform it was trained with)."""
    save_safetensors_atomic(g_ema.state_dict(), run_dir / "g_ema.safetensors")
    write_json_atomic(run_dir / "generator.json",
                      {"generator": config.generator_config().to_dict(), "noise_mode": config.noise_mode,
                       "world_transform": {"name": "synthface-z30-v1", "integer_fraction": config.integer_fraction,
                                           "world_dims": WORLD_DIMS}}, sort_keys=True)
