"""The model bundle: every weight one Editable-DeepSC deployment needs, in one directory.

Layout::

    BUNDLE/
      manifest.json            format, version, resolution, latent size, attributes, u, adapter SNR levels,
                               one entry per component (architecture, config, file) and a sha256 per file
      generator.safetensors    StyleGAN2 g_ema (rosinality key layout)
      predictor.safetensors    the attribute predictor JECC uses
      language.safetensors     the instruction encoder (+ vocab.json)
      fields.safetensors       one field function per attribute
      adapters.safetensors     the A_CE / A_CD bank and the latent normaliser
      ...                      optional: discriminator, eval_predictor, identity_encoder, deepjscc, ...

Both ends open the same bundle; the transmitter loads generator, predictor, language encoder, fields and
adapters, the receiver only generator and adapters. :class:`Bundle` validates the manifest and every file's
sha256 when opened and builds components lazily; every problem is a :class:`~shared.errors.BundleError` that
names the file and what is wrong.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from functools import cached_property
from pathlib import Path
from typing import Any, Callable

import torch
from pydantic import BaseModel, Field, ValidationError, field_validator
from safetensors.torch import load_file, save_file

from shared.atomic_io import write_text_atomic
from shared.errors import BundleError
from shared.world_spec import ATTRIBUTES as DEFAULT_ATTRIBUTES

FORMAT = "editdsc-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DEFAULT_SNR_LEVELS = [-6.0, 0.0, 6.0, 12.0, 18.0]
REQUIRED_COMPONENTS = ("generator", "adapters")   # enough to decode; editing also needs predictor, language, fields


class ComponentSpec(BaseModel):
    """One component: its architecture name, its JSON config and its safetensors file."""

    arch: str
    file: str
    config: dict[str, Any] = Field(default_factory=dict)
    extra_files: list[str] = Field(default_factory=list)   # e.g. the vocabulary of the language encoder


class Manifest(BaseModel):
    """``manifest.json`` of a bundle."""

    format: str = FORMAT
    format_version: int = FORMAT_VERSION
    name: str
    version: str
    description: str = ""
    resolution: int
    latent_dim: int = 512
    attributes: list[str] = Field(default_factory=lambda: list(DEFAULT_ATTRIBUTES))
    max_degree: int = 5                                          # u: degrees run 0..u
    adapter_snr_db: list[float] = Field(default_factory=lambda: list(DEFAULT_SNR_LEVELS))
    components: dict[str, ComponentSpec]
    files: dict[str, str] = Field(default_factory=dict)          # file name -> sha256
    provenance: dict[str, Any] = Field(default_factory=dict)     # how it was made (training stages, seeds, ...)
    metrics: dict[str, Any] = Field(default_factory=dict)        # measured quality (edsc bundle report)
    # the generator's latent layout, when it has one: {"name": "synthface-z30-v1", "integer_fraction": 0.7}
    # (shared.models.world_latent); lets the transmitter start its inversion from F and P's reading of the image
    latent_layout: dict[str, Any] | None = None

    @field_validator("format")
    @classmethod
    def _format(cls, value: str) -> str:
        if value != FORMAT:
            raise ValueError(f"format must be {FORMAT!r}, got {value!r}")
        return value

    @field_validator("resolution")
    @classmethod
    def _resolution(cls, value: int) -> int:
        if value < 8 or value & (value - 1):
            raise ValueError(f"resolution must be a power of two >= 8, got {value}")
        return value

    @field_validator("max_degree")
    @classmethod
    def _max_degree(cls, value: int) -> int:
        if not 1 <= value <= 20:
            raise ValueError(f"max_degree (u) must lie in [1, 20], got {value}")
        return value


def sha256_file(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


# --- builders: architecture name -> module factory (imports are lazy so the receiver loads little) -----------

def _build_generator(arch: str, config: dict) -> torch.nn.Module:
    from shared.models.stylegan2 import Generator
    if arch != "stylegan2":
        raise BundleError(f"unknown generator architecture {arch!r} (expected 'stylegan2')")
    return Generator.from_config(config)


def _build_discriminator(arch: str, config: dict) -> torch.nn.Module:
    from shared.models.stylegan2 import Discriminator
    if arch != "stylegan2":
        raise BundleError(f"unknown discriminator architecture {arch!r} (expected 'stylegan2')")
    return Discriminator.from_config(config)


def _build_predictor(arch: str, config: dict) -> torch.nn.Module:
    from shared.models.predictor import build_predictor
    return build_predictor(arch, config)


def _build_language(arch: str, config: dict) -> torch.nn.Module:
    from shared.models.language import LanguageEncoder, LanguageEncoderConfig
    if arch != "lstm":
        raise BundleError(f"unknown language encoder architecture {arch!r} (expected 'lstm')")
    return LanguageEncoder(LanguageEncoderConfig.from_dict(config))


def _build_fields(arch: str, config: dict) -> torch.nn.Module:
    """config: {"attributes": [...], "field": FieldConfig dict} (residual) or
    {"attributes": [...], "num_layers", "dim", "hidden", "replaced_layers"} (talk2edit)."""
    from shared.models.field import FieldBank, FieldConfig, Talk2EditField
    attributes = config.get("attributes") or DEFAULT_ATTRIBUTES
    if arch == "residual":
        return FieldBank.residual(attributes, FieldConfig.from_dict(config.get("field", {})))
    if arch == "talk2edit":
        return FieldBank({a: Talk2EditField(num_layers=config.get("num_layers", 8), dim=config.get("dim", 512),
                                            hidden=config.get("hidden", 512),
                                            replaced_layers=config.get("replaced_layers"))
                          for a in attributes})
    raise BundleError(f"unknown field architecture {arch!r} (expected 'residual' or 'talk2edit')")


def _build_adapters(arch: str, config: dict) -> torch.nn.Module:
    from shared.models.codec import LinkCodec
    if arch != "residual_fc":
        raise BundleError(f"unknown adapter architecture {arch!r} (expected 'residual_fc')")
    return LinkCodec(config)


def _build_identity_encoder(arch: str, config: dict) -> torch.nn.Module:
    from shared.models.identity import build_identity_encoder
    return build_identity_encoder(arch, config)


def _build_generative(arch: str, config: dict) -> torch.nn.Module:
    from shared.models.generative import build_generative
    return build_generative(arch, config)


BUILDERS: dict[str, Callable[[str, dict], torch.nn.Module]] = {
    "generator": _build_generator,
    "discriminator": _build_discriminator,
    "predictor": _build_predictor,
    "eval_predictor": _build_predictor,
    "language": _build_language,
    "fields": _build_fields,
    "adapters": _build_adapters,
    "identity_encoder": _build_identity_encoder,
    "generative": _build_generative,
}


def register_builder(component: str, builder: Callable[[str, dict], torch.nn.Module]) -> None:
    """Register the factory of an optional component (identity encoder, baselines, ...)."""
    BUILDERS[component] = builder


class Bundle:
    """An opened, validated bundle directory.

    Parameters
    ----------
    path : the bundle directory.
    device : where components are built (``cpu`` by default).
    verify : check every file's sha256 against the manifest (default True).
    """

    def __init__(self, path: str | os.PathLike, device: torch.device | str = "cpu", verify: bool = True):
        self.path = Path(path)
        self.device = torch.device(device)
        self.manifest = read_manifest(self.path)
        self._modules: dict[str, torch.nn.Module] = {}
        missing = [c for c in REQUIRED_COMPONENTS if c not in self.manifest.components]
        if missing:
            raise BundleError(f"bundle {self.path} lacks required component(s) {missing}")
        for name, spec in self.manifest.components.items():
            for file in [spec.file, *spec.extra_files]:
                if file not in self.manifest.files:
                    raise BundleError(f"bundle {self.path}: component {name!r} uses {file!r}, which has no sha256 in the manifest")
        for file, expected in self.manifest.files.items():
            fpath = self.path / file
            if not fpath.is_file():
                raise BundleError(f"bundle {self.path}: file {file!r} listed in the manifest is missing")
            if verify:
                actual = sha256_file(fpath)
                if actual != expected:
                    raise BundleError(f"bundle {self.path}: {file!r} has sha256 {actual[:16]}..., manifest says {expected[:16]}... (corrupt or edited)")

    # -- facts ------------------------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def version(self) -> str:
        return f"{self.manifest.name}@{self.manifest.version}"

    @property
    def resolution(self) -> int:
        return self.manifest.resolution

    @property
    def attributes(self) -> list[str]:
        return list(self.manifest.attributes)

    @property
    def max_degree(self) -> int:
        return self.manifest.max_degree

    @property
    def latent_layout(self) -> dict[str, Any] | None:
        return self.manifest.latent_layout

    def has(self, component: str) -> bool:
        return component in self.manifest.components

    def weights_sha256(self, component: str) -> str | None:
        """The manifest's sha256 of ``component``'s weights file (None when the manifest has none): a key for
        anything computed from those weights."""
        return self.manifest.files.get(self.manifest.components[component].file)

    # -- components -------------------------------------------------------------------------------------------

    def load(self, component: str) -> torch.nn.Module:
        """Build ``component`` from its config, load its weights strictly, move it to the device, eval mode."""
        if component in self._modules:
            return self._modules[component]
        spec = self.manifest.components.get(component)
        if spec is None:
            raise BundleError(f"bundle {self.path} has no component {component!r}; it has {sorted(self.manifest.components)}")
        builder = BUILDERS.get(component)
        if builder is None:
            raise BundleError(f"no builder registered for component {component!r}")
        try:
            module = builder(spec.arch, spec.config)
        except BundleError:
            raise
        except Exception as exc:  # noqa: BLE001 - a bad config is a bundle problem, reported with its cause
            raise BundleError(f"bundle {self.path}: cannot build {component!r} ({spec.arch}) from its config: {exc}") from exc
        state = load_file(str(self.path / spec.file))
        try:
            module.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise BundleError(f"bundle {self.path}: weights in {spec.file!r} do not fit the {component!r} config: {str(exc)[:400]}") from None
        module.to(self.device).eval()
        for p in module.parameters():
            p.requires_grad_(False)
        self._modules[component] = module
        return module

    def read_json(self, file: str) -> Any:
        """An extra JSON file of the bundle (e.g. the vocabulary), sha256-checked at open."""
        if file not in self.manifest.files:
            raise BundleError(f"bundle {self.path} lists no file {file!r}")
        return json.loads((self.path / file).read_text())

    @cached_property
    def generator(self) -> torch.nn.Module:
        return self.load("generator")

    @cached_property
    def predictor(self) -> torch.nn.Module:
        return self.load("predictor")

    @cached_property
    def fields(self) -> torch.nn.Module:
        fields = self.load("fields")
        if hasattr(fields, "set_mapping"):
            fields.set_mapping(self.generator.style)   # Talk-to-Edit fields step through the mapping network
        return fields

    @cached_property
    def adapters(self) -> torch.nn.Module:
        return self.load("adapters")

    @cached_property
    def language(self) -> torch.nn.Module:
        return self.load("language")

    def vocabulary(self):
        from shared.models.language import Vocabulary
        spec = self.manifest.components["language"]
        if not spec.extra_files:
            raise BundleError(f"bundle {self.path}: the language component names no vocabulary file")
        return Vocabulary.from_dict(self.read_json(spec.extra_files[0]))

    def parameter_counts(self) -> dict[str, int]:
        """Parameters per loaded-able component (builds each once)."""
        return {name: sum(p.numel() for p in self.load(name).parameters()) for name in self.manifest.components}


def read_manifest(path: Path) -> Manifest:
    path = Path(path)
    if not path.is_dir():
        raise BundleError(f"bundle directory {str(path)!r} does not exist")
    mpath = path / MANIFEST
    if not mpath.is_file():
        raise BundleError(f"{str(path)!r} is not a bundle: it has no {MANIFEST}")
    try:
        raw = json.loads(mpath.read_text())
    except json.JSONDecodeError as exc:
        raise BundleError(f"{mpath} is not valid JSON: {exc}") from None
    if isinstance(raw, dict) and raw.get("format_version", FORMAT_VERSION) > FORMAT_VERSION:
        raise BundleError(f"{mpath} has format_version {raw['format_version']}; this editdsc reads up to {FORMAT_VERSION}")
    try:
        return Manifest.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise BundleError(f"{mpath} is invalid: {problems}") from None


def write_bundle(path: str | os.PathLike, *, name: str, version: str, resolution: int,
                 components: dict[str, tuple[str, dict, dict[str, torch.Tensor]]],
                 extra_json: dict[str, Any] | None = None, component_extra_files: dict[str, list[str]] | None = None,
                 **manifest_fields: Any) -> Path:
    """Write a bundle atomically (into a temp dir, then renamed over ``path``).

    Parameters
    ----------
    components : name -> (arch, config, state_dict); each saved as ``<name>.safetensors``.
    extra_json : file name -> JSON-serialisable object (e.g. ``{"vocab.json": vocab.to_dict()}``).
    component_extra_files : component -> extra files it uses (e.g. ``{"language": ["vocab.json"]}``).
    manifest_fields : any other :class:`Manifest` field (attributes, max_degree, adapter_snr_db, provenance...).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        specs, files = {}, {}
        for cname, (arch, config, state) in components.items():
            file = f"{cname}.safetensors"
            tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
            save_file(tensors, str(tmp / file), metadata={"component": cname, "arch": arch})
            files[file] = sha256_file(tmp / file)
            specs[cname] = ComponentSpec(arch=arch, file=file, config=config,
                                         extra_files=(component_extra_files or {}).get(cname, []))
        for file, obj in (extra_json or {}).items():
            (tmp / file).write_text(json.dumps(obj, indent=1, sort_keys=True))
            files[file] = sha256_file(tmp / file)
        manifest = Manifest(name=name, version=version, resolution=resolution, components=specs, files=files,
                            **manifest_fields)
        (tmp / MANIFEST).write_text(manifest.model_dump_json(indent=2))
        read_manifest(tmp)  # validate what we wrote
        os.chmod(tmp, 0o755)  # mkdtemp makes 0700: a bundle must be readable by the services' (other) user
        for f in tmp.iterdir():
            os.chmod(f, 0o644)
        if path.exists():
            backup = path.with_name(f".{path.name}.old")
            if backup.exists():
                shutil.rmtree(backup)
            os.replace(path, backup)
            os.replace(tmp, path)
            shutil.rmtree(backup)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def update_manifest(path: str | os.PathLike, **fields: Any) -> Manifest:
    """Replace top-level manifest fields (e.g. ``metrics``) without touching the weights."""
    path = Path(path)
    manifest = read_manifest(path)
    data = manifest.model_dump()
    data.update(fields)
    new = Manifest.model_validate(data)
    write_text_atomic(path / MANIFEST, new.model_dump_json(indent=2))
    return new
