"""The built-in bundle's training recipe: every stage of issue 3 in order, resumable, then the bundle itself.

``edsc train all`` (``make bundle``) runs, under one root directory (default ``runs/synthface-128``)::

    predictor       JECC's attribute predictor (edsc.train.predictor, "jecc")  predictor/predictor.safetensors
    eval_predictor  the evaluation predictor (other widths, BatchNorm, seed)   eval_predictor/predictor.safetensors
    identity        identity encoder F for L_id (edsc.train.identity)          identity/identity_encoder.safetensors
    parser          instruction parser (edsc.train.parser)                     parser/language.safetensors
    generator       distilled StyleGAN2 (edsc.train.generator)                 generator/g_ema.safetensors
    fields          the five field functions (edsc.train.fields)               fields/fields.safetensors
    adapters        A_CE / A_CD per SNR level (edsc.train.adapters)            adapters/adapters.safetensors

and then *assembles* the bundle (default ``bundles/synthface-128``). A stage whose output file exists is done
and skipped (``--force`` retrains it); an interrupted stage resumes from its newest checkpoint (every stage
checkpoints; ``--time-limit`` stops a stage cleanly after that many seconds, so a long run can be split over
several sessions). The predictors, the identity encoder and the parser need nothing but the SynthFace renderer
and its instruction corpus, so they can run in any order or in parallel processes; the generator's ``cuda``
preset reads the JECC predictor (its auxiliary loss) and logs the evaluation predictor's accuracy on G's images
when that stage is done; the fields need the generator, the predictor and the identity encoder; the adapters
need the generator.

Presets: ``cpu`` (sized for 2 CPU cores: the generator is distilled with L1 + LPIPS + gradient loss only) and
``cuda`` (larger batches, more steps, and the JECC predictor's cross-entropy on G's image as an auxiliary loss;
the shipped generator was trained with it on one GPU). The seeds are fixed, so a rerun of a stage on the same
device reproduces it.

Bundle size: floating-point tensors of 1,024 or more elements are stored in float16 (bias vectors, norms and
buffers stay float32) and loaded back into float32 modules: the shipped bundle must stay under 40 MB.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch

from shared.errors import InvalidArgumentError

__all__ = ["STAGES", "PRESETS", "stage_dir", "stage_done", "run_stage", "assemble_bundle", "train_all",
           "load_generator", "initial_codec"]

STAGES = ("predictor", "eval_predictor", "identity", "parser", "generator", "fields", "adapters")
PRESETS = ("cpu", "cuda")
BUNDLE_NAME = "synthface-128"
SNR_LEVELS = [-6.0, 0.0, 6.0, 12.0, 18.0]
#: A_CE / A_CD size of the built-in bundle: one residual block of width 128 per adapter (263 k parameters per
#: level, ~3 % of the bundle, close to the paper's 2.65 %; the paper's size is ``AdapterConfig.paper()``).
ADAPTER = {"dim": 512, "hidden": 128, "blocks": 1, "activation": "gelu"}
ADAPTER_VAL_ITEMS = 32      # validation faces of the adapters' early stopping (edsc.train.adapters)
#: Field functions of the built-in bundle (eq. 11): M = 3 linear layers of width 256.
FIELD = {"dim": 512, "hidden": 256, "layers": 3, "negative_slope": 0.2, "step_scale": 1.0, "zero_init_last": False}
HALF_MIN_NUMEL = 1024
ADAPTER_PRIOR = True        # A_CD starts with the LMMSE front end (shared.models.latent_prior)
PRIOR_LATENTS = 20000       # mapped latents the prior's covariance is fitted to

# The file each stage leaves when it is complete.
_OUTPUT = {
    "generator": "g_ema.safetensors",
    "predictor": "predictor.safetensors",
    "eval_predictor": "predictor.safetensors",
    "identity": "identity_encoder.safetensors",
    "parser": "language.safetensors",
    "fields": "fields.safetensors",
    "adapters": "adapters.safetensors",
}


def _check_stage(stage: str) -> None:
    if stage not in STAGES:
        raise InvalidArgumentError(f"unknown stage {stage!r}: choose one of {', '.join(STAGES)} (or 'all')")


def _check_preset(preset: str) -> None:
    if preset not in PRESETS:
        raise InvalidArgumentError(f"unknown preset {preset!r}: choose one of {', '.join(PRESETS)}")


def stage_dir(root: str | os.PathLike, stage: str) -> Path:
    _check_stage(stage)
    return Path(root) / stage


def stage_done(root: str | os.PathLike, stage: str) -> bool:
    """True when the stage's output file exists and its metrics.json says it finished."""
    d = stage_dir(root, stage)
    metrics = d / "metrics.json"
    if not (d / _OUTPUT[stage]).is_file() or not metrics.is_file():
        return False                   # the generator exports g_ema at every checkpoint: metrics mark the end
    m = json.loads(metrics.read_text())
    return bool(m.get("complete", m.get("finished", False)))


def _need(root: Path, *stages: str) -> None:
    missing = [s for s in stages if not stage_done(root, s)]
    if missing:
        raise InvalidArgumentError(f"stage(s) {', '.join(missing)} under {root} are not done yet; run "
                                   f"'edsc train {missing[0]} --runs {root}' first (or 'edsc train all')")


# ----------------------------------------------------------------------------------------------------------------
# Loading what earlier stages produced
# ----------------------------------------------------------------------------------------------------------------

def _load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file
    return load_file(str(path))


def load_generator(root: str | os.PathLike, device: str | torch.device = "cpu") -> torch.nn.Module:
    """The distilled generator (g_ema) of stage (a), frozen, eval mode."""
    from shared.models import stylegan2 as sg
    d = stage_dir(root, "generator")
    meta = json.loads((d / "generator.json").read_text())
    g = sg.Generator.from_config(sg.GeneratorConfig.from_dict(meta["generator"]))
    g.load_state_dict(_load_safetensors(d / "g_ema.safetensors"))
    return g.to(device).eval().requires_grad_(False)


def _load_json_component(d: Path, json_name: str, weights: str, build: Callable[[str, dict], torch.nn.Module],
                         device) -> torch.nn.Module:
    meta = json.loads((d / json_name).read_text())
    module = build(meta["arch"], meta["config"])
    module.load_state_dict(_load_safetensors(d / weights))
    return module.to(device).eval().requires_grad_(False)


def _load_predictor(root: Path, stage: str, device) -> torch.nn.Module:
    from shared.models.predictor import build_predictor
    return _load_json_component(stage_dir(root, stage), "predictor.json", "predictor.safetensors", build_predictor,
                                device)


def _load_identity(root: Path, device) -> torch.nn.Module:
    from shared.models.identity import build_identity_encoder
    return _load_json_component(stage_dir(root, "identity"), "identity_encoder.json",
                                "identity_encoder.safetensors", build_identity_encoder, device)


def initial_codec(generator: torch.nn.Module, prior: bool = False,
                  normalizer: torch.nn.Module | None = None) -> torch.nn.Module:
    """The link codec before stage (f): identity adapters, normaliser fitted to G's mapping (seed 0), or a copy of
    ``normalizer`` when given (an existing bundle's); with ``prior`` also A_CD's LMMSE front end fitted to G's
    mapping through that normaliser (its floor is set by the adapters stage)."""
    from shared.models.codec import LinkCodec, LinkCodecConfig
    codec = LinkCodec(LinkCodecConfig(snr_levels=list(SNR_LEVELS), adapter=dict(ADAPTER), rescale=True,
                                      prior=prior))
    if normalizer is None:
        codec.fit_normalizer(generator, n=8192, seed=0)
    else:
        codec.normalizer.load_state_dict(normalizer.state_dict())
    if prior:
        codec.fit_prior(generator, n=PRIOR_LATENTS, seed=0)
    p = next(generator.parameters())
    return codec.to(p.device).eval()


# ----------------------------------------------------------------------------------------------------------------
# Stages
# ----------------------------------------------------------------------------------------------------------------

#: The ``cuda`` generator recipe, as the shipped generator was trained (one H100; phase 1 shared the GPU with other
#: jobs): five phases, each starting from the previous phase's g_ema with a fresh optimiser and cosine schedule.
#: ``stop_at`` is where a phase's time budget stopped it (its schedule ran to ``steps``), kept so that a rerun
#: reproduces the shipped weights' training. Phase 1 and 2 add the JECC predictor's cross-entropy (``lambda_aux``);
#: phase 3 adds the L1 on the pixels where the mouth moves between smiling degrees (``lambda_attr``); phases 4 and 5
#: add LPIPS on 64 px crops around those pixels (``lambda_attr_lpips``).
CUDA_GENERATOR_PHASES: tuple[tuple[str, dict[str, Any], int | None], ...] = (
    ("phase1", {"steps": 3400, "lr": 2e-3, "lambda_aux": 0.05}, 3361),
    ("phase2", {"steps": 6500, "lr": 1e-3, "lambda_aux": 0.1}, 5467),
    ("phase3", {"steps": 2000, "lr": 5e-4, "lambda_aux": 0.1, "lambda_attr": 1.0, "attr_focus": ["smiling"]}, None),
    ("phase4", {"steps": 1800, "lr": 5e-4, "lambda_aux": 0.1, "lambda_attr": 1.0, "lambda_attr_lpips": 1.0,
                "attr_focus": ["smiling"]}, None),
    ("phase5", {"steps": 1600, "lr": 3e-4, "lambda_aux": 0.1, "lambda_attr": 1.0, "lambda_attr_lpips": 1.0,
                "attr_focus": ["smiling"]}, None),
)
_CUDA_GENERATOR_COMMON = {"batch": 32, "eval_every": 1000, "checkpoint_every": 1000, "eval_faces": 128,
                          "inversion_faces": 16}


def _generator(root: Path, preset: str, device: str, time_limit: float | None, threads: int | None) -> dict:
    from edsc.train.generator import GeneratorTrainConfig, train_generator
    out = stage_dir(root, "generator")
    if preset == "cpu":
        cfg = GeneratorTrainConfig(steps=3600, eval_every=300, eval_faces=32, checkpoint_every=150,
                                   inversion_faces=8, device=device, threads=threads)
        aux, hook = _generator_hooks(root, cfg)
        _, metrics = train_generator(cfg, out, resume=True, max_seconds=time_limit, aux_loss=aux, eval_hook=hook)
        return metrics
    def phase_done(m: dict, stop_at: int | None) -> bool:
        return bool(m.get("finished")) or (stop_at is not None and m.get("step", 0) >= stop_at)

    t0, init, metrics = time.time(), None, {}
    phases = []
    for name, overrides, stop_at in CUDA_GENERATOR_PHASES:
        d = out / name
        cfg = GeneratorTrainConfig(**{**_CUDA_GENERATOR_COMMON, **overrides}, device=device, threads=threads)
        done = d / "metrics.json"
        metrics = json.loads(done.read_text()) if done.is_file() else {}
        if not phase_done(metrics, stop_at):
            aux, hook = _generator_hooks(root, cfg)
            left = None if time_limit is None else max(1.0, time_limit - (time.time() - t0))
            _, metrics = train_generator(cfg, d, resume=True, max_seconds=left, aux_loss=aux, eval_hook=hook,
                                         stop_at=stop_at, init_from=init)
            if not phase_done(metrics, stop_at):
                return {**metrics, "finished": False, "phase": name}
        phases.append({"phase": name, "step": metrics.get("step"), "final": metrics.get("final")})
        init = d / "g_ema.safetensors"
    import shutil
    for f in ("g_ema.safetensors", "generator.json", "config.json", "eval.jsonl", "init.json"):
        shutil.copyfile(out / CUDA_GENERATOR_PHASES[-1][0] / f, out / f)
    metrics = {**metrics, "finished": True, "phases": phases}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    return metrics


def _generator_hooks(root: Path, cfg) -> tuple[Callable | None, Callable | None]:
    """The JECC predictor's cross-entropy (when ``cfg.lambda_aux`` > 0) and, when that stage is done, the
    evaluation predictor's accuracy on G's images as an evaluation hook (monitoring only: G never sees its
    gradients)."""
    from edsc.train.generator import predictor_aux_loss, predictor_eval_hook
    from shared.config import pick_device
    dev = pick_device(cfg.device)
    aux = hook = None
    if cfg.lambda_aux > 0:
        _need(root, "predictor")
        aux = predictor_aux_loss(_load_predictor(root, "predictor", dev))
    if stage_done(root, "eval_predictor"):
        hook = predictor_eval_hook(_load_predictor(root, "eval_predictor", dev), n=cfg.eval_faces)
    return aux, hook


def _predictor(root: Path, stage: str, preset: str, device: str, time_limit: float | None) -> dict:
    from edsc.train.predictor import PredictorTrainConfig, train_predictor
    scale = 1 if preset == "cpu" else 4
    cfg = PredictorTrainConfig.jecc(steps=2500 * scale) if stage == "predictor" else \
        PredictorTrainConfig.evaluation(steps=2000 * scale)
    _, metrics = train_predictor(cfg, stage_dir(root, stage), device=device, time_limit=time_limit)
    return metrics


def _identity(root: Path, preset: str, device: str, time_limit: float | None) -> dict:
    from edsc.train.identity import IdentityTrainConfig, train_identity
    cfg = IdentityTrainConfig(steps=3000 if preset == "cpu" else 12000)
    _, metrics = train_identity(cfg, stage_dir(root, "identity"), device=device, time_limit=time_limit)
    return metrics


def _parser(root: Path, preset: str, device: str, time_limit: float | None) -> dict:
    from edsc.train.parser import ParserTrainConfig, train_parser
    _, _, metrics = train_parser(ParserTrainConfig(), stage_dir(root, "parser"), time_limit=time_limit)
    return metrics


def _fields(root: Path, preset: str, device: str, time_limit: float | None) -> dict:
    from safetensors.torch import save_file
    from edsc.train.fields import FieldTrainConfig, pretrain_fields_on_world, train_fields
    from shared.atomic_io import atomic_path, write_json_atomic
    from shared.models.field import FieldBank, FieldConfig

    _need(root, "generator", "predictor", "identity")
    d = stage_dir(root, "fields")
    d.mkdir(parents=True, exist_ok=True)
    generator = load_generator(root, device)
    predictor = _load_predictor(root, "predictor", device)
    identity = _load_identity(root, device)
    codec = initial_codec(generator)
    names = list(predictor.attributes)
    warm_path = d / "warm_start.pt"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        fields = FieldBank.residual(names, FieldConfig.from_dict(FIELD)).to(device)
    if warm_path.is_file():
        fields.load_state_dict(torch.load(warm_path, map_location=device))
        warm = json.loads((d / "warm_start.json").read_text())
    else:
        warm = pretrain_fields_on_world(fields, generator, names, steps=1500 if preset == "cpu" else 4000)
        torch.save(fields.state_dict(), warm_path)
        write_json_atomic(d / "warm_start.json", warm)
    cfg = FieldTrainConfig(steps=500 if preset == "cpu" else 3000, batch_size=8, lr=3e-4, warmup=10,
                           field=dict(FIELD), eval_latents=48, ckpt_every=20, log_every=5)
    fields, metrics = train_fields(generator, predictor, identity, None, codec, cfg, d / "train", fields=fields)
    metrics = {**metrics, "warm_start": warm}
    with atomic_path(d / "fields.safetensors") as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in fields.state_dict().items()}, str(tmp))
    write_json_atomic(d / "fields.json", {"arch": "residual", "config": {"attributes": names, "field": dict(FIELD)}})
    write_json_atomic(d / "metrics.json", {"complete": True, **metrics})
    return metrics


def _encoder_start(root: Path, generator: torch.nn.Module, device) -> torch.nn.Module:
    """The inversion's encoder start (:class:`transmitter.inversion_init.EncoderStart`) from the run's stages."""
    from shared.models import world_latent
    from transmitter.inversion_init import EncoderStart
    _need(root, "identity", "predictor")
    layout = _latent_layout(root)
    if layout is None or layout["name"] != world_latent.LAYOUT:
        raise InvalidArgumentError(f"the generator under {root} records no {world_latent.LAYOUT} latent layout")
    return EncoderStart(generator, _load_identity(root, device), _load_predictor(root, "predictor", device),
                        layout["integer_fraction"])


def adapter_items(generator: torch.nn.Module, start: Callable[[torch.Tensor], torch.Tensor], n: int, device,
                  stream: str = "train/adapters/faces") -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` SynthFace renders from ``stream`` (held out from every other stage) and their inversions at r_inv 110
    from ``start`` (the encoder start), in batches of 13: (latents (n, D), images (n, 3, 128, 128))."""
    from edsc.world.seeds import make_generator
    from edsc.world.synthface import render, sample_degrees, sample_identity
    from shared.lpips import get_lpips
    from transmitter.inversion import InversionConfig, invert

    g = make_generator(stream, 0)
    identity, degrees = sample_identity(n, generator=g), sample_degrees(n, generator=g)
    images = render(identity, degrees).to(device)                                   # (n, 3, 128, 128)
    lp = get_lpips("alex", device)
    w = torch.cat([invert(generator, images[i:i + 13], lp, InversionConfig(), w_init=start(images[i:i + 13])).w
                   for i in range(0, n, 13)])
    return w, images


def _adapter_data(root: Path, generator: torch.nn.Module, n: int, device, stream: str = "train/adapters/faces",
                  cache_name: str = "inverted.pt") -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`adapter_items` from the run's encoder start, cached in the stage directory as ``cache_name`` (used
    again only for the same generator weights and start)."""
    from shared.bundle import sha256_file

    cache = stage_dir(root, "adapters") / cache_name
    key = {"generator": sha256_file(stage_dir(root, "generator") / "g_ema.safetensors"), "start": "encoder"}
    if cache.is_file():
        data = torch.load(cache, map_location=device)
        if data["latents"].shape[0] == n and data.get("key") == key:
            return data["latents"], data["images"]
    w, images = adapter_items(generator, _encoder_start(root, generator, device), n, device, stream)
    cache.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"latents": w.cpu(), "images": images.cpu(), "key": key}, cache)
    return w.to(device), images


def _adapters(root: Path, preset: str, device: str, time_limit: float | None) -> dict:
    from safetensors.torch import save_file
    from shared.atomic_io import atomic_path, write_json_atomic

    _need(root, "generator")
    d = stage_dir(root, "adapters")
    d.mkdir(parents=True, exist_ok=True)
    generator = load_generator(root, device)
    codec = initial_codec(generator, prior=ADAPTER_PRIOR)
    cfg = adapter_train_config(preset)
    latents, images = _adapter_data(root, generator, cfg.n_ft + cfg.n_eval, device)
    # the validation items of early stopping: their own stream, so the n_ft / n_eval items stay as they were
    val_latents, val_images = _adapter_data(root, generator, cfg.n_val, device, "train/adapters/val-faces",
                                            "inverted-val.pt")
    # the tuned share's denominator: every network of the system that is trained by now (G and the codec are
    # counted by train_adapters itself)
    counted = {"predictor": _load_predictor(root, "predictor", device)} if stage_done(root, "predictor") else {}
    if stage_done(root, "fields"):
        from shared.bundle import BUILDERS
        counted["fields"] = _load_json_component(stage_dir(root, "fields"), "fields.json", "fields.safetensors",
                                                 BUILDERS["fields"], device)
    codec, metrics = tune_adapters(generator, codec, (latents, images), (val_latents, val_images), cfg, d / "train",
                                   counted)
    with atomic_path(d / "adapters.safetensors") as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in codec.state_dict().items()}, str(tmp))
    write_json_atomic(d / "adapters.json", {"arch": "residual_fc", "config": codec.cfg.to_dict()})
    write_json_atomic(d / "metrics.json", {"complete": True, **metrics})
    return metrics


def adapter_train_config(preset: str):
    """The adapters stage's :class:`~edsc.train.adapters.AdapterTrainConfig` for a preset."""
    from edsc.train.adapters import AdapterTrainConfig
    return AdapterTrainConfig(steps=60 if preset == "cpu" else 300, lr=1e-3, n_ft=10, n_eval=16, batch_size=10,
                              n_val=ADAPTER_VAL_ITEMS, val_every=10, warmup=5, final_frac=0.1, ckpt_every=20)


def tune_adapters(generator: torch.nn.Module, codec: torch.nn.Module, data: tuple, val_data: tuple, cfg,
                  run_dir: Path, counted: dict) -> tuple[torch.nn.Module, dict]:
    """Stage (f) on prepared items: the prior's floor from the n_ft fine-tuning latents (when the codec has a
    prior), then :func:`~edsc.train.adapters.train_adapters` on ``data`` (n_ft + n_eval items) + ``val_data``."""
    from edsc.train.adapters import train_adapters
    latents, images = data
    floor = codec.fit_prior_floor(latents[:cfg.n_ft]) if codec.prior is not None else None
    latents, images = torch.cat([latents, val_data[0]]), torch.cat([images, val_data[1]])
    codec, metrics = train_adapters(generator, codec, (latents, images), cfg, run_dir, count_modules=counted)
    if floor is not None:
        metrics["prior_floor"] = floor
    return codec, metrics


def run_stage(stage: str, root: str | os.PathLike = "runs/synthface-128", preset: str = "cpu",
              device: str = "cpu", time_limit: float | None = None, threads: int | None = None,
              force: bool = False) -> dict[str, Any]:
    """Run (or resume) one stage; returns its metrics (``{"skipped": True}`` when it was already done)."""
    _check_stage(stage)
    _check_preset(preset)
    root = Path(root)
    if stage_done(root, stage) and not force:
        return {"stage": stage, "skipped": True}
    if force and (stage_dir(root, stage) / _OUTPUT[stage]).exists():
        (stage_dir(root, stage) / _OUTPUT[stage]).unlink()
    if threads:
        torch.set_num_threads(int(threads))
    if stage == "generator":
        return _generator(root, preset, device, time_limit, threads)
    if stage in ("predictor", "eval_predictor"):
        return _predictor(root, stage, preset, device, time_limit)
    if stage == "identity":
        return _identity(root, preset, device, time_limit)
    if stage == "parser":
        return _parser(root, preset, device, time_limit)
    if stage == "fields":
        return _fields(root, preset, device, time_limit)
    return _adapters(root, preset, device, time_limit)


# ----------------------------------------------------------------------------------------------------------------
# Assembly
# ----------------------------------------------------------------------------------------------------------------

def _half(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """float16 for large floating tensors (weights), float32 for the rest (biases, norms, buffers, and the codec's
    LMMSE prior, whose eigenbasis must stay orthonormal)."""
    return {k: (v.half() if v.is_floating_point() and v.numel() >= HALF_MIN_NUMEL and not k.startswith("prior.")
                else v)
            for k, v in state.items()}


def _git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                              cwd=Path(__file__).resolve().parents[2]).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _summary(root: Path, stage: str) -> dict[str, Any]:
    path = stage_dir(root, stage) / "metrics.json"
    if not path.is_file():
        return {}
    m = json.loads(path.read_text())
    return {k: v for k, v in m.items() if isinstance(v, (int, float, str, bool)) or v is None}


def assemble_bundle(root: str | os.PathLike = "runs/synthface-128", out: str | os.PathLike = "bundles/synthface-128",
                    version: str | None = None) -> Path:
    """Write the bundle from the stages' outputs (all seven must be done)."""
    from shared.bundle import write_bundle
    root = Path(root)
    _need(root, *STAGES)

    def comp(stage: str, json_name: str, weights: str) -> tuple[str, dict, dict[str, torch.Tensor]]:
        meta = json.loads((stage_dir(root, stage) / json_name).read_text())
        return meta["arch"], meta["config"], _half(_load_safetensors(stage_dir(root, stage) / weights))

    gmeta = json.loads((stage_dir(root, "generator") / "generator.json").read_text())
    components = {
        "generator": ("stylegan2", gmeta["generator"],
                      _half(_load_safetensors(stage_dir(root, "generator") / "g_ema.safetensors"))),
        "predictor": comp("predictor", "predictor.json", "predictor.safetensors"),
        "eval_predictor": comp("eval_predictor", "predictor.json", "predictor.safetensors"),
        "identity_encoder": comp("identity", "identity_encoder.json", "identity_encoder.safetensors"),
        "language": comp("parser", "language.json", "language.safetensors"),
        "fields": comp("fields", "fields.json", "fields.safetensors"),
        "adapters": comp("adapters", "adapters.json", "adapters.safetensors"),
    }
    vocab = json.loads((stage_dir(root, "parser") / "vocab.json").read_text())
    provenance = {
        "kind": "trained", "recipe": "edsc.train.recipe", "world": "SynthFace", "commit": _git_commit(),
        "world_transform": gmeta.get("world_transform"), "noise_mode": gmeta.get("noise_mode", "const"),
        "storage": f"float16 for floating tensors with >= {HALF_MIN_NUMEL} elements, float32 otherwise",
        "torch": torch.__version__, "machine": f"{platform.machine()} {os.cpu_count()} cores",
        "stages": {s: _summary(root, s) for s in STAGES},
    }
    return write_bundle(
        out, name=BUNDLE_NAME, version=version or time.strftime("%Y%m%d"), resolution=128,
        description="Built-in bundle trained on the SynthFace world (edsc train all): a distilled StyleGAN2 "
                    "at 128 px, attribute predictors, identity encoder, parser, field functions and SNR adapters",
        attributes=list(components["predictor"][1]["attributes"]), max_degree=5, adapter_snr_db=list(SNR_LEVELS),
        components=components, extra_json={"vocab.json": vocab}, component_extra_files={"language": ["vocab.json"]},
        provenance=provenance, latent_layout=_latent_layout(root),
    )


def _latent_layout(root: Path) -> dict[str, Any] | None:
    """The generator's latent layout for the manifest, as its ``generator.json`` records it
    (:mod:`shared.models.world_latent`); None for a generator that records none."""
    meta = json.loads((stage_dir(root, "generator") / "generator.json").read_text())
    transform = meta.get("world_transform")
    if not transform:
        return None
    return {"name": transform["name"], "integer_fraction": float(transform["integer_fraction"])}


def train_all(root: str | os.PathLike = "runs/synthface-128", out: str | os.PathLike = "bundles/synthface-128",
              preset: str = "cpu", device: str = "cpu", threads: int | None = None,
              log: Callable[[str], None] = lambda s: print(s, file=sys.stderr)) -> Path:
    """Every stage not yet done, in order, then the bundle."""
    for stage in STAGES:
        t0 = time.time()
        result = run_stage(stage, root, preset, device, threads=threads)
        log(f"edsc train: {stage}: " + ("already done" if result.get("skipped") else
                                         f"done in {time.time() - t0:.0f} s"))
    path = assemble_bundle(root, out)
    log(f"edsc train: bundle written to {path}")
    return path
