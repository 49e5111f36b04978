"""Attribute predictors P: generator images → per-attribute degree logits.

Two architectures sit behind one interface, :class:`AttributePredictor`:

* :class:`Talk2EditPredictor` — the Talk-to-Edit predictor (ResNet-50 trunk, ``stem`` fc_block, one
  ``classifierNNName`` head per attribute). Its ``state_dict`` is key- and shape-identical to the published
  ``predictor_{128,1024}.pth.tar`` (``{'state_dict': ...}``, no ``module.`` prefix), so
  :func:`load_talk2edit_predictor` loads that file with ``strict=True``.
* :class:`SmallCNNPredictor` — a compact CNN (≈ 0.3 M parameters) for the built-in 128 px bundle.

Input convention (both): generator output images in [−1, 1], shape (B, 3, H, W). Each predictor does its own
preprocessing, modelled on Talk-to-Edit's ``models/utils.py::transform_image``:

1. ``v = (x + 1)·255/2`` then ``y = clamp(v + 0.5, 0, 255)``;
2. ``quantize=True`` (default): ``q = floor(y)`` — exactly the uint8 value Talk-to-Edit's ``postprocess``
   writes to a PNG (``np.clip(v + 0.5, 0, 255).astype(np.uint8)``), i.e. the image as it would be stored and
   re-read. Talk-to-Edit's own ``transform_image`` skips the floor (its source carries a "TODO: int()?
   quantization?"); ``quantize=False`` reproduces that bit for bit (a +0.5/255 offset, no rounding);
   ``differentiable=True`` keeps the forward value ``floor(y)`` but passes the gradient straight through
   (straight-through estimator), so losses back-propagate to the generator (JECC training);
3. divide by 255 → [0, 1];
4. if H×W differs from the predictor's input size (128), ``F.interpolate(mode="area")`` to 128×128
   (Talk-to-Edit does this for its 1024 px generator);
5. Talk2EditPredictor: ImageNet mean/std normalisation; SmallCNNPredictor: ``2·x − 1``.

Degrees: ``degree = argmax(logits)``, ``confidence = softmax(logits)[degree]`` (Talk-to-Edit's
``predictor_to_label``). Degree index = the CelebA-Dialog degree (it rises with beard and with age even though
Talk-to-Edit names the heads ``No_Beard`` and ``Young``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from shared.dataclass_config import checked_fields
from shared.errors import BundleError, InvalidArgumentError
from shared.world_spec import ATTRIBUTES as DEFAULT_ATTRIBUTES, TALK2EDIT_ATTRIBUTES

__all__ = [
    "DEFAULT_ATTRIBUTES",
    "TALK2EDIT_ATTRIBUTES",
    "TALK2EDIT_HEAD_NAMES",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "AttributePrediction",
    "AttributePredictor",
    "FCBlock",
    "Talk2EditPredictor",
    "SmallCNNConfig",
    "SmallCNNPredictor",
    "images_to_unit",
    "build_predictor",
    "load_talk2edit_predictor",
    "unwrap_state_dict",
]

#: Head module names of the published predictor: 'classifier' + CelebA attribute index (zfill 2) + name.
TALK2EDIT_HEAD_NAMES: tuple[str, ...] = (
    "classifier06Bangs", "classifier16Eyeglasses", "classifier25No_Beard", "classifier32Smiling",
    "classifier40Young",
)
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)


# ----------------------------------------------------------------------------------------------------------------
# Prediction container
# ----------------------------------------------------------------------------------------------------------------

@dataclass
class AttributePrediction:
    """Per-attribute degree predictions of a batch.

    Attributes
    ----------
    logits : torch.Tensor
        (B, m, u+1) raw scores.
    degree : torch.Tensor
        (B, m) long, argmax over the degrees.
    confidence : torch.Tensor
        (B, m) float, softmax probability of the argmax.
    attributes : list[str]
        The m attribute names, in the order of dimension 1.
    """

    logits: torch.Tensor
    degree: torch.Tensor
    confidence: torch.Tensor
    attributes: list[str]

    @classmethod
    def from_logits(cls, logits: torch.Tensor, attributes: Sequence[str]) -> "AttributePrediction":
        """Builds the prediction from logits (B, m, u+1); keeps the autograd graph of ``logits``."""
        if logits.ndim != 3 or logits.shape[1] != len(attributes):
            raise InvalidArgumentError(
                f"logits must have shape (B, {len(attributes)}, u+1), got {tuple(logits.shape)}")
        probs = torch.softmax(logits, dim=-1)
        confidence, degree = probs.max(dim=-1)
        return cls(logits=logits, degree=degree, confidence=confidence, attributes=list(attributes))

    @property
    def num_degrees(self) -> int:
        return int(self.logits.shape[-1])

    def index(self, attribute: str | int) -> int:
        """Index of ``attribute`` (a name or an index) in dimension 1."""
        if isinstance(attribute, int):
            if not 0 <= attribute < len(self.attributes):
                raise InvalidArgumentError(
                    f"attribute index {attribute} is outside [0, {len(self.attributes) - 1}]")
            return attribute
        try:
            return self.attributes.index(attribute)
        except ValueError:
            raise InvalidArgumentError(
                f"unknown attribute {attribute!r}; known: {', '.join(self.attributes)}") from None

    def for_attribute(self, attribute: str | int) -> tuple[torch.Tensor, torch.Tensor]:
        """(degree (B,), confidence (B,)) of one attribute."""
        i = self.index(attribute)
        return self.degree[:, i], self.confidence[:, i]

    def as_dicts(self) -> list[dict[str, dict[str, float | int]]]:
        """One ``{name: {"degree": int, "confidence": float}}`` dict per batch element (JSON-friendly)."""
        deg = self.degree.detach().cpu().tolist()
        conf = self.confidence.detach().cpu().tolist()
        return [
            {name: {"degree": int(d[j]), "confidence": float(c[j])} for j, name in enumerate(self.attributes)}
            for d, c in zip(deg, conf)
        ]


# ----------------------------------------------------------------------------------------------------------------
# Preprocessing
# ----------------------------------------------------------------------------------------------------------------

def images_to_unit(images: torch.Tensor, size: int | None = 128, quantize: bool = True,
                   differentiable: bool = False) -> torch.Tensor:
    """Generator output in [−1, 1] → [0, 1] exactly as Talk-to-Edit feeds its predictor (steps 1–4 above).

    Parameters
    ----------
    images : torch.Tensor
        (B, 3, H, W) float in [−1, 1] (values outside are clamped).
    size : int or None
        Output side; ``None`` keeps H×W. Resizing uses ``F.interpolate(mode="area")``.
    quantize : bool
        Floor to the uint8 grid (what a stored PNG holds); ``False`` = Talk-to-Edit's ``transform_image``.
    differentiable : bool
        Straight-through estimator for the floor: forward quantised, backward identity.

    Output
    ------
    torch.Tensor
        (B, 3, size, size) in [0, 1].
    """
    if images.ndim != 4 or images.shape[1] != 3:
        raise InvalidArgumentError(f"images must have shape (B, 3, H, W), got {tuple(images.shape)}")
    if not images.is_floating_point():
        raise InvalidArgumentError(f"images must be a float tensor in [-1, 1], got dtype {images.dtype}")
    y = torch.clamp((images + 1.0) * 255.0 / 2.0 + 0.5, 0.0, 255.0)
    if quantize:
        q = torch.floor(y)
        y = y + (q - y).detach() if differentiable else q
    x = y / 255.0
    if size is not None and tuple(x.shape[-2:]) != (size, size):
        x = F.interpolate(x, size=(size, size), mode="area")
    return x


# ----------------------------------------------------------------------------------------------------------------
# Base class
# ----------------------------------------------------------------------------------------------------------------

class AttributePredictor(nn.Module):
    """Base class: images in [−1, 1] → logits (B, m, u+1).

    Attributes
    ----------
    attributes : list[str]
        The m attribute names (order of the logits' dimension 1).
    num_degrees : int
        u + 1 (6 for CelebA-Dialog).
    input_size : int
        Side the images are resized to.
    quantize, differentiable : bool
        Preprocessing switches, see :func:`images_to_unit`; both may be changed after construction.
    """

    def __init__(self, attributes: Sequence[str], num_degrees: int, input_size: int = 128,
                 quantize: bool = True, differentiable: bool = False):
        super().__init__()
        attributes = [str(a) for a in attributes]
        if not attributes:
            raise InvalidArgumentError("a predictor needs at least one attribute")
        if len(set(attributes)) != len(attributes):
            raise InvalidArgumentError(f"attribute names must be unique, got {attributes}")
        if num_degrees < 2:
            raise InvalidArgumentError(f"num_degrees must be >= 2, got {num_degrees}")
        self.attributes: list[str] = attributes
        self.num_degrees: int = int(num_degrees)
        self.input_size: int = int(input_size)
        self.quantize: bool = bool(quantize)
        self.differentiable: bool = bool(differentiable)

    @property
    def max_degree(self) -> int:
        """u, the largest degree."""
        return self.num_degrees - 1

    def attribute_index(self, attribute: str | int) -> int:
        if isinstance(attribute, int):
            if not 0 <= attribute < len(self.attributes):
                raise InvalidArgumentError(
                    f"attribute index {attribute} is outside [0, {len(self.attributes) - 1}]")
            return attribute
        try:
            return self.attributes.index(attribute)
        except ValueError:
            raise InvalidArgumentError(
                f"unknown attribute {attribute!r}; known: {', '.join(self.attributes)}") from None

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """Images in [−1, 1] → the network's input tensor (B, 3, input_size, input_size)."""
        raise NotImplementedError

    def forward_preprocessed(self, x: torch.Tensor) -> torch.Tensor:
        """Network on an already preprocessed batch → logits (B, m, u+1)."""
        raise NotImplementedError

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """
        Input
        -----
        images : torch.Tensor
            (B, 3, H, W) generator output in [−1, 1].

        Output
        ------
        torch.Tensor
            (B, m, u+1) logits.
        """
        return self.forward_preprocessed(self.preprocess(images))

    def predict(self, images: torch.Tensor) -> AttributePrediction:
        """Inference: eval mode (restored afterwards), no autograd graph; returns an :class:`AttributePrediction`."""
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                logits = self.forward(images)
        finally:
            self.train(was_training)
        return AttributePrediction.from_logits(logits, self.attributes)


class FCBlock(nn.Module):
    """Talk-to-Edit's ``fc_block``: Linear → BatchNorm1d → ReLU (dropout rate 0 in all published files).

    Sub-module names ``fc`` and ``bn`` are part of the published key layout.
    """

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.fc = nn.Linear(in_features, out_features)
        self.bn = nn.BatchNorm1d(out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.fc(x)))


# ----------------------------------------------------------------------------------------------------------------
# Talk-to-Edit predictor
# ----------------------------------------------------------------------------------------------------------------

class Talk2EditPredictor(AttributePredictor):
    """Talk-to-Edit's attribute predictor (``models/archs/attribute_predictor_arch.py``, ``resnet50``).

    ResNet-50 trunk (Bottleneck [3, 4, 6, 3], stride on the 3×3 conv, no fc) → global average pool →
    ``stem`` = FCBlock(2048→512) → per attribute ``classifierNNName`` = Sequential(FCBlock(512→256),
    Linear(256→u+1)). Trunk modules sit at top level (``conv1``, ``bn1``, ``layer1`` … ``layer4``), exactly
    like the published ``state_dict``. No pretrained weights are downloaded.

    Parameters
    ----------
    attributes : sequence of str
        Project names of the heads, in head order (default ``bangs, eyeglasses, beard, smiling, age``).
    head_names : sequence of str
        Module names of the heads (default the published ``classifier06Bangs`` …).
    num_degrees : int
        Classes per head (6).
    input_size, quantize, differentiable
        See :class:`AttributePredictor`.
    """

    def __init__(self, attributes: Sequence[str] = DEFAULT_ATTRIBUTES,
                 head_names: Sequence[str] = TALK2EDIT_HEAD_NAMES, num_degrees: int = 6,
                 input_size: int = 128, quantize: bool = True, differentiable: bool = False):
        super().__init__(attributes, num_degrees, input_size, quantize, differentiable)
        if len(head_names) != len(self.attributes):
            raise InvalidArgumentError(
                f"{len(head_names)} head names for {len(self.attributes)} attributes")
        from torchvision.models import resnet50  # torchvision's ResNet-50 uses the same module names

        trunk = resnet50(weights=None)
        self.conv1 = trunk.conv1
        self.bn1 = trunk.bn1
        self.maxpool = trunk.maxpool
        self.layer1 = trunk.layer1
        self.layer2 = trunk.layer2
        self.layer3 = trunk.layer3
        self.layer4 = trunk.layer4
        self.stem = FCBlock(2048, 512)
        self.head_names: list[str] = [str(h) for h in head_names]
        for name in self.head_names:
            if hasattr(self, name):
                raise InvalidArgumentError(f"head name {name!r} collides with a module attribute")
            self.add_module(name, nn.Sequential(FCBlock(512, 256), nn.Linear(256, self.num_degrees)))
        self.register_buffer("img_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("img_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        x = images_to_unit(images, self.input_size, self.quantize, self.differentiable)
        return (x - self.img_mean) / self.img_std

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Preprocessed images (B, 3, h, w) → stem features (B, 512)."""
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.maxpool(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)  # (B, 2048)
        return self.stem(x)  # (B, 512)

    def forward_preprocessed(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.features(x)
        return torch.stack([getattr(self, name)(feat) for name in self.head_names], dim=1)  # (B, m, u+1)

    def config(self) -> dict[str, Any]:
        return {"attributes": list(self.attributes), "head_names": list(self.head_names),
                "num_degrees": self.num_degrees, "input_size": self.input_size, "quantize": self.quantize}


# ----------------------------------------------------------------------------------------------------------------
# Small CNN predictor
# ----------------------------------------------------------------------------------------------------------------

@dataclass
class SmallCNNConfig:
    """Configuration of :class:`SmallCNNPredictor`.

    Parameters
    ----------
    attributes : list[str]
        Head names, in output order.
    num_degrees : int
        u + 1.
    widths : list[int]
        Output channels of the strided 3×3 conv blocks (each halves the resolution).
    norm : str
        ``"group"`` (GroupNorm, batch-size independent) or ``"batch"``.
    groups : int
        GroupNorm groups (clipped to a divisor of the width).
    input_size : int
        Images are resized (area) to this side.
    dropout : float
        Dropout before the heads.
    quantize : bool
        See :func:`images_to_unit`.
    """

    attributes: list[str] = field(default_factory=lambda: list(DEFAULT_ATTRIBUTES))
    num_degrees: int = 6
    widths: list[int] = field(default_factory=lambda: [16, 32, 64, 128, 160])
    norm: str = "group"
    groups: int = 8
    input_size: int = 128
    dropout: float = 0.0
    quantize: bool = True

    def __post_init__(self) -> None:
        self.attributes = [str(a) for a in self.attributes]
        self.widths = [int(w) for w in self.widths]
        if not self.widths or min(self.widths) < 1:
            raise InvalidArgumentError(f"widths must be positive, got {self.widths}")
        if self.norm not in ("group", "batch"):
            raise InvalidArgumentError(f"norm must be 'group' or 'batch', got {self.norm!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "SmallCNNConfig":
        return cls(**checked_fields(cls, d))


def _norm2d(kind: str, channels: int, groups: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    g = max(1, min(groups, channels))
    while channels % g:
        g -= 1
    return nn.GroupNorm(g, channels)


class SmallCNNPredictor(AttributePredictor):
    """Compact CNN predictor: strided conv blocks (conv3×3 s2 → norm → SiLU) → global average pool →
    one Linear head per attribute (``heads.<name>``), shared trunk (``trunk.<i>``).

    Parameters
    ----------
    config : SmallCNNConfig or dict
    """

    def __init__(self, config: SmallCNNConfig | Mapping[str, Any] | None = None):
        if config is None:
            config = SmallCNNConfig()
        elif not isinstance(config, SmallCNNConfig):
            config = SmallCNNConfig.from_dict(config)
        super().__init__(config.attributes, config.num_degrees, config.input_size, config.quantize, False)
        self.cfg = config
        blocks: list[nn.Module] = []
        c_in = 3
        for w in config.widths:
            blocks.append(nn.Sequential(
                nn.Conv2d(c_in, w, kernel_size=3, stride=2, padding=1, bias=False),
                _norm2d(config.norm, w, config.groups),
                nn.SiLU(),
            ))
            c_in = w
        self.trunk = nn.Sequential(*blocks)
        self.dropout = nn.Dropout(config.dropout) if config.dropout > 0 else nn.Identity()
        self.heads = nn.ModuleDict({name: nn.Linear(c_in, config.num_degrees) for name in self.attributes})

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        x = images_to_unit(images, self.input_size, self.quantize, self.differentiable)
        return x * 2.0 - 1.0

    def forward_preprocessed(self, x: torch.Tensor) -> torch.Tensor:
        feat = torch.flatten(F.adaptive_avg_pool2d(self.trunk(x), 1), 1)  # (B, C)
        feat = self.dropout(feat)
        return torch.stack([self.heads[name](feat) for name in self.attributes], dim=1)  # (B, m, u+1)

    def config(self) -> dict[str, Any]:
        return self.cfg.to_dict()


# ----------------------------------------------------------------------------------------------------------------
# Factory and loaders
# ----------------------------------------------------------------------------------------------------------------

PREDICTOR_ARCHS: tuple[str, ...] = ("talk2edit_resnet50", "small_cnn")


def build_predictor(arch: str, config: Mapping[str, Any] | None = None) -> AttributePredictor:
    """Builds a randomly initialised predictor.

    Parameters
    ----------
    arch : str
        ``"talk2edit_resnet50"`` (config = keyword arguments of :class:`Talk2EditPredictor`) or
        ``"small_cnn"`` (config = :class:`SmallCNNConfig` fields).
    config : dict, optional
    """
    config = dict(config or {})
    if arch == "talk2edit_resnet50":
        allowed = {"attributes", "head_names", "num_degrees", "input_size", "quantize", "differentiable"}
        unknown = sorted(set(config) - allowed)
        if unknown:
            raise InvalidArgumentError(f"unknown talk2edit_resnet50 config keys: {', '.join(unknown)}")
        return Talk2EditPredictor(**config)
    if arch == "small_cnn":
        return SmallCNNPredictor(SmallCNNConfig.from_dict(config))
    raise InvalidArgumentError(f"unknown predictor architecture {arch!r}; known: {', '.join(PREDICTOR_ARCHS)}")


def unwrap_state_dict(obj: Mapping[str, Any], prefix: str = "module.") -> dict[str, torch.Tensor]:
    """Returns the tensors of a checkpoint: unwraps ``{'state_dict': ...}`` and strips a DataParallel prefix."""
    if not isinstance(obj, Mapping):
        raise BundleError(f"expected a state dict (a mapping), got {type(obj).__name__}")
    if "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        obj = obj["state_dict"]
    sd = dict(obj)
    if sd and all(k.startswith(prefix) for k in sd):
        sd = {k[len(prefix):]: v for k, v in sd.items()}
    return sd


def load_state_dict_strict(module: nn.Module, state_dict: Mapping[str, torch.Tensor], what: str) -> None:
    """``load_state_dict(strict=True)`` with a :class:`BundleError` that names missing / unexpected keys."""
    own = module.state_dict()
    state_dict = dict(state_dict)
    for k in own:  # files written before PyTorch 0.4.1 have no BatchNorm counters
        if k.endswith("num_batches_tracked") and k not in state_dict:
            state_dict[k] = torch.tensor(0, dtype=torch.long)
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    mismatched = [f"{k} {tuple(state_dict[k].shape)} != {tuple(own[k].shape)}"
                  for k in own if k in state_dict and tuple(state_dict[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or mismatched:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys (e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys (e.g. {', '.join(unexpected[:3])})")
        if mismatched:
            parts.append(f"{len(mismatched)} shape mismatches (e.g. {'; '.join(mismatched[:3])})")
        raise BundleError(f"{what} state dict does not match the architecture: " + "; ".join(parts))
    module.load_state_dict(state_dict, strict=True)


def load_talk2edit_predictor(state_dict: Mapping[str, Any], attributes: Sequence[str] = DEFAULT_ATTRIBUTES,
                             **kwargs: Any) -> Talk2EditPredictor:
    """Builds a :class:`Talk2EditPredictor` from the published ``predictor_{128,1024}.pth.tar`` content.

    Parameters
    ----------
    state_dict : mapping
        ``torch.load(path, map_location="cpu")``: ``{'state_dict': {...}}`` or the bare state dict; a
        ``module.`` prefix is stripped (the published files have none).
    attributes : sequence of str
        Project names for Talk-to-Edit's heads in their order ``Bangs, Eyeglasses, No_Beard, Smiling, Young``.
    kwargs
        ``input_size``, ``quantize``, ``differentiable``.

    Output
    ------
    Talk2EditPredictor in eval mode.
    """
    sd = unwrap_state_dict(state_dict)
    head_names = [h for h in TALK2EDIT_HEAD_NAMES if f"{h}.1.weight" in sd]
    if not head_names:
        raise BundleError("no Talk-to-Edit predictor heads (classifier06Bangs ...) in the state dict")
    if len(head_names) != len(attributes):
        raise BundleError(f"state dict has {len(head_names)} heads, {len(attributes)} attribute names given")
    num_degrees = int(sd[f"{head_names[0]}.1.weight"].shape[0])
    model = Talk2EditPredictor(attributes=attributes, head_names=head_names, num_degrees=num_degrees, **kwargs)
    load_state_dict_strict(model, sd, "Talk-to-Edit predictor")
    return model.eval()
