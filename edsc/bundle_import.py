"""Importers: published checkpoints → an editdsc bundle.

- ``import_rosinality``: a rosinality stylegan2-pytorch checkpoint (``{'g_ema': ..., 'd': ...}`` or a bare
  ``g_ema`` state_dict) → a decode-capable bundle (generator, optional discriminator, identity adapters with the
  latent normaliser fitted to the generator).
- ``import_talk2edit``: Talk-to-Edit's ``pretrained_models`` folder (``stylegan2_128.pt`` / ``stylegan2_1024.pth``,
  ``predictor_{128,1024}.pth.tar``, ``{128,1024}_field/<Attr>.pth``, ``language_encoder.pth.tar`` and the
  ``vocab.json`` of its ``language/templates``) → a full bundle (Talk-to-Edit field steps, published predictor
  and language encoder).

Checkpoints are read with ``torch.load(weights_only=True)``; files that need arbitrary unpickling (e.g. a
checkpoint that stores an argparse ``args``) are refused unless ``trust_pickle=True``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from shared.bundle import DEFAULT_ATTRIBUTES, write_bundle
from shared.errors import BundleError, InvalidArgumentError
from shared.models.codec import LinkCodec, LinkCodecConfig
from shared.models.stylegan2 import Discriminator, Generator

TALK2EDIT_ATTRS = ("Bangs", "Eyeglasses", "No_Beard", "Smiling", "Young")
TALK2EDIT_REPLACED_LAYERS = {128: 8, 1024: 10}


def load_checkpoint(path: Path, trust_pickle: bool = False) -> Any:
    """torch.load a checkpoint on CPU, refusing arbitrary pickles unless trusted."""
    path = Path(path)
    if not path.is_file():
        raise BundleError(f"checkpoint {str(path)!r} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=not trust_pickle)
    except Exception as exc:  # noqa: BLE001 - reported with the remedy
        if not trust_pickle and "weights_only" in str(exc):
            raise BundleError(f"{path} holds more than tensors (e.g. pickled objects); if you trust the file, "
                              "pass --trust-pickle") from None
        raise BundleError(f"cannot read checkpoint {path}: {exc}") from None


def _strict_load(module: torch.nn.Module, state: dict, what: str) -> None:
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise BundleError(f"{what} does not match the expected layout: {str(exc)[:500]}") from None


def _generator_from(obj: Any, size: int, channel_multiplier: int, what: str) -> tuple[Generator, Discriminator | None]:
    if isinstance(obj, dict) and "g_ema" in obj:
        g_state, d_state = obj["g_ema"], obj.get("d")
    elif isinstance(obj, dict) and any(k.startswith("style.") for k in obj):
        g_state, d_state = obj, None
    else:
        raise BundleError(f"{what}: neither a 'g_ema' entry nor a generator state_dict")
    generator = Generator(size, 512, 8, channel_multiplier=channel_multiplier)
    _strict_load(generator, g_state, f"{what} g_ema (size {size}, channel multiplier {channel_multiplier})")
    discriminator = None
    if d_state is not None:
        discriminator = Discriminator(size, channel_multiplier=channel_multiplier)
        _strict_load(discriminator, d_state, f"{what} discriminator")
    return generator.eval(), discriminator


def _identity_codec(generator: Generator, snr_levels: list[float]) -> LinkCodec:
    codec = LinkCodec(LinkCodecConfig(snr_levels=snr_levels))
    codec.fit_normalizer(generator)
    return codec


def _base_components(generator: Generator, discriminator: Discriminator | None, codec: LinkCodec) -> dict:
    comps = {
        "generator": ("stylegan2", generator.config.to_dict(), generator.state_dict()),
        "adapters": ("residual_fc", codec.cfg.to_dict(), codec.state_dict()),
    }
    if discriminator is not None:
        comps["discriminator"] = ("stylegan2", discriminator.config.to_dict(), discriminator.state_dict())
    return comps


def import_rosinality(ckpt: Path, size: int, channel_multiplier: int, out: Path, name: str | None = None,
                      trust_pickle: bool = False, snr_levels: list[float] | None = None) -> Path:
    """A rosinality checkpoint → a bundle that can invert and decode (no editing components)."""
    if size < 8 or size & (size - 1):
        raise InvalidArgumentError(f"--size must be a power of two >= 8, got {size}")
    obj = load_checkpoint(Path(ckpt), trust_pickle)
    generator, discriminator = _generator_from(obj, size, channel_multiplier, str(ckpt))
    snr_levels = snr_levels or [-6.0, 0.0, 6.0, 12.0, 18.0]
    codec = _identity_codec(generator, snr_levels)
    return write_bundle(out, name=name or Path(ckpt).stem, version="imported", resolution=size,
                        description=f"imported from rosinality checkpoint {Path(ckpt).name}; adapters untrained (identity)",
                        adapter_snr_db=snr_levels, components=_base_components(generator, discriminator, codec),
                        provenance={"kind": "import-rosinality", "source": Path(ckpt).name,
                                    "channel_multiplier": channel_multiplier})


def import_talk2edit(directory: Path, resolution: int, out: Path, vocab: Path | None = None,
                     trust_pickle: bool = False, snr_levels: list[float] | None = None) -> Path:
    """Talk-to-Edit's published files → a full bundle."""
    from shared.models.field import load_talk2edit_fields
    from shared.models.language import Vocabulary, load_talk2edit_language_encoder
    from shared.models.predictor import load_talk2edit_predictor

    directory = Path(directory)
    if resolution not in TALK2EDIT_REPLACED_LAYERS:
        raise InvalidArgumentError(f"--resolution must be 128 or 1024, got {resolution}")
    if not directory.is_dir():
        raise BundleError(f"Talk-to-Edit folder {str(directory)!r} does not exist")
    cm = 1 if resolution == 128 else 2
    g_file = next((directory / f for f in (f"stylegan2_{resolution}.pt", f"stylegan2_{resolution}.pth")
                   if (directory / f).is_file()), None)
    if g_file is None:
        raise BundleError(f"{directory} has no stylegan2_{resolution}.pt / .pth")
    generator, discriminator = _generator_from(load_checkpoint(g_file, trust_pickle), resolution, cm, str(g_file))

    p_file = directory / f"predictor_{resolution}.pth.tar"
    predictor = load_talk2edit_predictor(load_checkpoint(p_file, trust_pickle), DEFAULT_ATTRIBUTES)

    field_dir = directory / f"{resolution}_field"
    missing = [a for a in TALK2EDIT_ATTRS if not (field_dir / f"{a}.pth").is_file()]
    if missing:
        raise BundleError(f"{field_dir} lacks field files for {missing}")
    fields = load_talk2edit_fields({a: load_checkpoint(field_dir / f"{a}.pth", trust_pickle) for a in TALK2EDIT_ATTRS},
                                   mapping=generator.style, replaced_layers=TALK2EDIT_REPLACED_LAYERS[resolution])

    vocab_file = Path(vocab) if vocab else directory / "vocab.json"
    if not vocab_file.is_file():
        raise BundleError(f"no vocabulary at {vocab_file}: pass --vocab (Talk-to-Edit's language/templates/vocab.json)")
    vocabulary = Vocabulary.from_dict(json.loads(vocab_file.read_text()))
    language = load_talk2edit_language_encoder(load_checkpoint(directory / "language_encoder.pth.tar", trust_pickle),
                                               vocabulary)

    snr_levels = snr_levels or [-6.0, 0.0, 6.0, 12.0, 18.0]
    codec = _identity_codec(generator, snr_levels)
    first = next(iter(fields.values()))
    field_cfg = {"attributes": list(DEFAULT_ATTRIBUTES), "num_layers": len(first.field), "dim": first.dim,
                 "hidden": int(first.field[0].Linear.weight.shape[0]),
                 "replaced_layers": TALK2EDIT_REPLACED_LAYERS[resolution]}
    components = _base_components(generator, discriminator, codec)
    components.update({
        "predictor": ("talk2edit_resnet50", predictor.config(), predictor.state_dict()),
        "language": ("lstm", language.cfg.to_dict(), language.state_dict()),
        "fields": ("talk2edit", field_cfg, fields.state_dict()),
    })
    return write_bundle(out, name=f"talk2edit-{resolution}", version="imported", resolution=resolution,
                        description="imported from Talk-to-Edit's published models; adapters untrained (identity)",
                        attributes=list(DEFAULT_ATTRIBUTES), max_degree=5, adapter_snr_db=snr_levels,
                        components=components, extra_json={"vocab.json": vocabulary.to_dict()},
                        component_extra_files={"language": ["vocab.json"]},
                        provenance={"kind": "import-talk2edit", "source": str(directory.name)})
