"""The methods of the paper's Fig. 4 as schemes: evaluation faces in, received edited images out.

=====================  ======================================================================================
``Editable-DeepSC``    transmitter: inversion (r_inv) → JECC (field steps until P reads a_exp) → A_CE(SNR);
                       512 reals over the emulated channel (power normalisation, MMSE recovery at the receiver,
                       :func:`edsc.link.estimate`); receiver: A_CD(SNR) → G. CBR = 512 / (3·R²) real values
                       per pixel value (0.0104 at 128 px).
``<link> M1``          send the *source* image over the image link, then edit at the receiver: inversion of the
                       received image + JECC + G (the paper's "DeepSC+Talk2Edit", "JPEG+LDPC+Talk2Edit").
``<link> M2``          edit at the transmitter, then send the *edited* image over the link (the paper's
                       "Talk2Edit+DeepSC", "Talk2Edit+JPEG+LDPC").
=====================  ======================================================================================

``<link>`` is ``JPEG+LDPC`` (:class:`edsc.baselines.jpeg_ldpc.JpegLdpcLink`, 0.7 bpp) or ``DeepJSCC``
(:class:`edsc.baselines.deepjscc.DeepJSCCLink`), both :class:`ImageLink`. "Edit" for the baselines is our own
editor without any codec or channel (:class:`Editor`: inversion + JECC with the bundle's fields and predictor +
G), the stack Talk-to-Edit provides in the paper; every scheme gets the ground-truth :class:`Edit` (error-free
text, as the paper assumes for the baselines), so the methods differ only in where the edit happens and what
crosses the channel.

:class:`Editor` caches inversions (:class:`~edsc.eval.inversions.InversionCache`) and edits by image content:
inversion and JECC are deterministic, so a received image identical to one seen before (JPEG+LDPC decoded without
errors at every SNR above its cliff, say) is inverted and edited once. The time a scheme reports per image is
always the time measured when the work was done, cache or not.
"""

from __future__ import annotations

import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, Sequence, runtime_checkable

import torch
from torch import Tensor
from tqdm import tqdm

from channel_emulator.config import ChannelConfig
from edsc.eval.inversions import InversionCache, store_directory
from edsc.eval.metrics import Measurement, image_keys, measured
from edsc.link import estimate
from shared.bundle import Bundle
from shared.errors import BundleError, EditDSCError, InvalidArgumentError
from transmitter.instruction import Edit, expected_degree
from transmitter.inversion import batch_size as inversion_batch_size, InversionConfig
from transmitter.jecc import EditOutcome, JECCConfig, field_step
from transmitter.pipeline import TransmitterPipeline, channel_bandwidth_ratio

__all__ = ["OURS", "LINKS", "METHODS", "CHANNELS", "ImageLink", "method_parts", "channel_config", "EditBatch",
           "Editor", "SchemeOutput", "EditableDeepSC", "SendThenEdit", "EditThenSend", "build_links",
           "build_schemes", "fixed_steps_per_degree"]

OURS = "Editable-DeepSC"
LINKS = ("JPEG+LDPC", "DeepJSCC")
METHODS = (OURS, "JPEG+LDPC M1", "JPEG+LDPC M2", "DeepJSCC M1", "DeepJSCC M2")
CHANNELS = ("awgn", "rayleigh", "rician")
_CHUNK = 16                     # images per inversion / JECC batch (bounds the autograd memory of inversion)


@runtime_checkable
class ImageLink(Protocol):
    """An image transmission baseline (``edsc.baselines``): ``transmit`` returns a ``LinkResult`` with
    ``images`` (B, 3, H, W) in [−1, 1], ``cbr`` (float) and ``info`` (dict)."""

    name: str

    def transmit(self, images: Tensor, snr_db: float, channel: Any = None, seed: int = 0) -> Any: ...


def method_parts(method: str) -> tuple[str | None, str | None]:
    """``"DeepJSCC M1"`` → ``("DeepJSCC", "M1")``; ``"Editable-DeepSC"`` → ``(None, None)``."""
    if method == OURS:
        return None, None
    if method not in METHODS:
        raise InvalidArgumentError(f"unknown method {method!r}; known: {', '.join(METHODS)}")
    label, scheme = method.rsplit(" ", 1)
    return label, scheme


def channel_config(model: str, snr_db: float, k_factor_db: float = 6.0) -> ChannelConfig:
    """The evaluation's channel at one SNR: AWGN, or flat block fading (one h per message, perfect CSI)."""
    if model not in CHANNELS:
        raise InvalidArgumentError(f"unknown channel {model!r}; the evaluation uses {', '.join(CHANNELS)}")
    extra = {"k_factor_db": k_factor_db} if model == "rician" else {}
    return ChannelConfig(model=model, snr_db=snr_db, **extra)


# ----------------------------------------------------------------------------------------------------------------
# Our editor without a channel
# ----------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Cost:
    """Seconds per image of one stage: wall clock and process CPU time (all threads)."""

    wall: float = 0.0
    cpu: float = 0.0

    @classmethod
    def per_image(cls, m: Measurement, n: int) -> "Cost":
        return cls(m.seconds / n, m.cpu_seconds / n)


def _stage_means(costs: Sequence[dict[str, Cost]], cpu: bool) -> dict[str, float]:
    """Mean per stage over images of one kind of time: [{stage: Cost}] → {stage: seconds}."""
    stages = costs[0].keys() if costs else ()
    return {s: sum(c[s].cpu if cpu else c[s].wall for c in costs) / len(costs) for s in stages}


@dataclass
class EditBatch:
    """Edited faces of one batch.

    images : (N, 3, R, R) G(w_edited) in [−1, 1].
    w_source, w_edited : (N, D) inverted and edited latents.
    outcomes : per image, JECC's :class:`EditOutcome`.
    inversion_lpips : (N,) LPIPS(G(w_source), input image).
    costs : per image, {"inversion_s", "editing_s", "render_s"} → :class:`Cost` (as measured when computed).
    """

    images: Tensor
    w_source: Tensor
    w_edited: Tensor
    outcomes: list[EditOutcome]
    inversion_lpips: Tensor
    costs: list[dict[str, Cost]]

    def time_per_image(self, render: bool = True, cpu: bool = False) -> dict[str, float]:
        """Mean seconds per image and stage, wall or CPU (``render=False`` drops G's final render, which
        Editable-DeepSC's transmitter never does)."""
        means = _stage_means(self.costs, cpu)
        return {k: v for k, v in means.items() if render or k != "render_s"}


@dataclass
class _Item:
    w_source: Tensor
    w_edited: Tensor
    outcome: EditOutcome
    image: Tensor
    inversion_lpips: float
    costs: dict[str, Cost]


class Editor:
    """Inversion (r_inv steps) → JECC with a ground-truth :class:`Edit` → G, without codec or channel.

    Parameters
    ----------
    bundle : an opened bundle with generator, predictor, fields, language and adapters.
    inversion_steps : r_inv.
    jecc : JECC parameters (r_edit = ``max_steps``).
    label : prefix of the progress bars.
    progress : show tqdm bars on stderr.
    store : a directory where every inversion is also written (one small file per image, named by the image's
        content hash in :func:`~edsc.eval.inversions.store_directory`) and looked up before inverting: an
        interrupted evaluation run again with the same store resumes where it stopped. A stored inversion keeps
        the time measured when it was computed. None: memory only.
    """

    def __init__(self, bundle: Bundle, inversion_steps: int, jecc: JECCConfig, label: str = "",
                 progress: bool = True, store: Path | None = None):
        self.bundle = bundle
        self.device = bundle.device
        self.inversion_steps = int(inversion_steps)
        self.tx = TransmitterPipeline(bundle, InversionConfig(steps=self.inversion_steps), jecc)
        self.label = label or f"r_inv {self.inversion_steps}"
        self.progress = progress
        self.store: Path | None = None if store is None else store_directory(store, bundle, self.tx,
                                                                              self.inversion_steps)
        # image key -> {"w": (D,), "lpips": float, "wall": float, "cpu": float} (seconds per image)
        self.inversions = InversionCache(self.store, self.device)
        self._edited: dict[tuple, _Item] = {}

    # -- stages ---------------------------------------------------------------------------------------------------
    def _bar(self, stage: str, total: int):
        return tqdm(total=total, desc=f"{self.label}: {stage}", file=sys.stderr, leave=False, unit="it",
                    disable=not self.progress)

    def _invert_new(self, images: Tensor, keys: list[str]) -> None:
        """Invert ``images`` (n, 3, R, R) in chunks and cache (w, lpips, cost per image) under ``keys``."""
        step = inversion_batch_size(self.device, _CHUNK)
        for start in range(0, images.shape[0], step):
            chunk = images[start:start + step]
            with self._bar("inversion", self.inversion_steps) as bar, measured(self.device) as m:
                result = self.tx.invert(chunk, lambda stage, step, total: bar.update(step - bar.n))
            cost = Cost.per_image(m, chunk.shape[0])
            for j in range(chunk.shape[0]):
                self.inversions.put(keys[start + j], {"w": result.w[j].detach(), "lpips": float(result.lpips[j]),
                                                      "wall": cost.wall, "cpu": cost.cpu})

    def _inversion_cost(self, key: str) -> Cost:
        entry = self.inversions.get(key)
        return Cost(float(entry["wall"]), float(entry["cpu"]))

    def _edit_new(self, w: Tensor, edits: Sequence[Edit], fixed_steps: int | None) -> tuple[Tensor, list, Cost]:
        """JECC (or the fixed-step ablation) on latents (n, D): (w_edited (n, D), outcomes, cost per image)."""
        with measured(self.device) as m:
            if fixed_steps is None:
                with self._bar("JECC", self.tx.jecc_config.max_steps) as bar:
                    outs = self.tx.run(list(edits), [0.0] * len(edits), w_start=w,
                                       progress=lambda stage, step, total: bar.update(step - bar.n))
                w_edited = torch.stack([o.w_edited for o in outs])
                outcomes = [o.outcome for o in outs]
            else:
                w_edited, outcomes = fixed_step_edit(self.bundle, w, edits, fixed_steps)
        return w_edited, outcomes, Cost.per_image(m, len(edits))

    @torch.no_grad()
    def _render(self, w: Tensor) -> tuple[Tensor, Cost]:
        with measured(self.device) as m:
            images = torch.cat([self.bundle.generator.synthesis(w[i:i + _CHUNK]).clamp(-1, 1)
                                for i in range(0, w.shape[0], _CHUNK)])
        return images, Cost.per_image(m, w.shape[0])

    # -- public ---------------------------------------------------------------------------------------------------
    @property
    def inverted_count(self) -> int:
        """Distinct images inverted so far (computed or read back from the store)."""
        return len(self.inversions)

    @property
    def loaded_from_store(self) -> int:
        """Distinct images whose inversion was read back from the store."""
        return self.inversions.loaded

    def invert(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """Inverted latents (N, D) and inversion LPIPS (N,) of ``images`` (cached by content)."""
        images = images.to(self.device)
        keys = image_keys(images)
        new = {k: i for i, k in enumerate(keys) if self.inversions.get(k) is None}
        if new:
            self._invert_new(images[list(new.values())], list(new))
        entries = [self.inversions.get(k) for k in keys]
        w = torch.stack([e["w"] for e in entries])
        return w, torch.tensor([float(e["lpips"]) for e in entries])

    def edit(self, images: Tensor, edits: Sequence[Edit], fixed_steps: int | None = None) -> EditBatch:
        """Edit ``images`` (N, 3, R, R) in [−1, 1] with one :class:`Edit` each.

        ``fixed_steps``: None runs JECC (attribute matching); an integer runs the ablation without attribute
        matching (that many field steps per degree of requested change, see :func:`fixed_step_edit`).
        """
        if len(edits) != images.shape[0]:
            raise InvalidArgumentError(f"{len(edits)} edits for {images.shape[0]} images")
        images = images.to(self.device)
        keys = [(k, e, fixed_steps) for k, e in zip(image_keys(images), edits)]
        new = {k: i for i, k in enumerate(keys) if k not in self._edited}
        if new:
            self._edit_items(images[list(new.values())], list(new))
        items = [self._edited[k] for k in keys]
        return EditBatch(
            images=torch.stack([it.image for it in items]),
            w_source=torch.stack([it.w_source for it in items]),
            w_edited=torch.stack([it.w_edited for it in items]),
            outcomes=[it.outcome for it in items],
            inversion_lpips=torch.tensor([it.inversion_lpips for it in items]),
            costs=[it.costs for it in items],
        )

    def _edit_items(self, images: Tensor, keys: list[tuple]) -> None:
        """Invert (cached), edit and render ``images`` (n, 3, R, R); cache one :class:`_Item` per key."""
        w, inv_lpips = self.invert(images)
        for start in range(0, len(keys), _CHUNK):
            part = keys[start:start + _CHUNK]
            w_edited, outcomes, edit_cost = self._edit_new(w[start:start + len(part)], [k[1] for k in part],
                                                           part[0][2])
            rendered, render_cost = self._render(w_edited)
            for j, key in enumerate(part):
                i = start + j
                costs = {"inversion_s": self._inversion_cost(key[0]), "editing_s": edit_cost,
                         "render_s": render_cost}
                self._edited[key] = _Item(w[i], w_edited[j].detach(), outcomes[j], rendered[j], float(inv_lpips[i]),
                                          costs)


# ----------------------------------------------------------------------------------------------------------------
# Ablation: JECC without attribute matching
# ----------------------------------------------------------------------------------------------------------------

@torch.no_grad()
def fixed_step_edit(bundle: Bundle, w: Tensor, edits: Sequence[Edit], steps_per_degree: int
                    ) -> tuple[Tensor, list[EditOutcome]]:
    """Field steps without the predictor's stop criterion (the ablation "without attribute matching").

    The predictor reads the original's degree once (eq. 10 needs it to turn the instruction into a_exp and a
    direction); the latent then takes ``steps_per_degree · |a_exp − a|`` steps along the attribute's field, with
    no check of the result.

    Input: w (N, D) latents, one edit each. Output: edited latents (N, D) and an outcome per image (status
    ``"fixed_steps"``; degrees after as JECC's predictor reads them).
    """
    if steps_per_degree < 1:
        raise InvalidArgumentError(f"steps_per_degree must be >= 1, got {steps_per_degree}")
    names, u = bundle.attributes, bundle.max_degree
    G, P = bundle.generator, bundle.predictor
    attr = torch.tensor([names.index(e.attribute) for e in edits], device=w.device)              # (N,)
    rows = torch.arange(w.shape[0], device=w.device)
    before = P.predict(G.synthesis(w)).degree                                                    # (N, m)
    a0 = before[rows, attr]
    a_exp = torch.tensor([expected_degree(e, int(a), u) for e, a in zip(edits, a0.tolist())], device=w.device)
    direction = torch.sign(a_exp - a0)                                                           # (N,)
    n_steps = (a_exp - a0).abs() * steps_per_degree                                              # (N,)
    w_out = w.clone()
    for step in range(int(n_steps.max()) if len(edits) else 0):
        idx = (n_steps > step).nonzero(as_tuple=True)[0]
        w_out[idx] = field_step(bundle.fields, w_out[idx], attr[idx], direction[idx])
    after = P.predict(G.synthesis(w_out))
    outcomes = [EditOutcome(status="fixed_steps", attribute=names[int(attr[i])],
                            degrees_before=before[i].tolist(), degrees_after=after.degree[i].tolist(),
                            expected_degree=int(a_exp[i]), confidence=float(after.confidence[i, attr[i]]),
                            iterations=int(n_steps[i])) for i in range(len(edits))]
    return w_out, outcomes


def fixed_steps_per_degree(outcomes: Sequence[EditOutcome], attributes: Sequence[str], fallback: int) -> int:
    """Steps per degree of change that JECC needed, median over the edits it completed (``fallback`` when none
    did): the ablation then spends the same field-step budget on average, without looking at the result."""
    ratios = []
    for o in outcomes:
        change = abs(o.expected_degree - o.degrees_before[list(attributes).index(o.attribute)])
        if o.status == "reached" and change > 0:
            ratios.append(o.iterations / change)
    return max(1, round(statistics.median(ratios))) if ratios else max(1, int(fallback))


# ----------------------------------------------------------------------------------------------------------------
# Schemes
# ----------------------------------------------------------------------------------------------------------------

@dataclass
class SchemeOutput:
    """One scheme at one channel condition.

    images : (N, 3, R, R) received edited images in [−1, 1].
    cbr : channel bandwidth ratio, real channel values per source value (k / (H·W·C)).
    seconds, cpu_seconds : mean wall / CPU seconds per image, per stage.
    info : what else the scheme or link reported (scalars).
    """

    method: str
    images: Tensor
    cbr: float
    seconds: dict[str, float]
    cpu_seconds: dict[str, float]
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def seconds_per_image(self) -> float:
        return float(sum(self.seconds.values()))

    @property
    def cpu_seconds_per_image(self) -> float:
        return float(sum(self.cpu_seconds.values()))


def _summarise_info(info: Any) -> dict[str, Any]:
    """A link's ``info`` as scalars: scalars kept, per-image lists of numbers / booleans averaged (e.g.
    ``decode_ok`` → the share of images decoded), anything else dropped."""
    if not isinstance(info, dict):
        return {}
    out: dict[str, Any] = {}
    for key, value in info.items():
        if isinstance(value, (int, float, str, bool)):
            out[key] = value
        elif isinstance(value, (list, tuple)) and value and all(isinstance(v, (int, float, bool)) for v in value):
            out[key] = sum(float(v) for v in value) / len(value)
    return out


def _with_stages(costs: Sequence[dict[str, Cost]], extra: dict[str, Cost], render: bool
                 ) -> tuple[dict[str, float], dict[str, float]]:
    """(wall, CPU) seconds per image and stage: the editor's stages (per image) plus this scheme's own."""
    wall = {**_stage_means(costs, cpu=False), **{k: c.wall for k, c in extra.items()}}
    cpu = {**_stage_means(costs, cpu=True), **{k: c.cpu for k, c in extra.items()}}
    if not render:
        wall.pop("render_s", None)
        cpu.pop("render_s", None)
    return wall, cpu


class EditableDeepSC:
    """Our chain after editing: A_CE(SNR) → power normalisation → channel → MMSE → A_CD(SNR) → G.

    Parameters
    ----------
    bundle : the bundle (generator and codec).
    edited : the transmitter's edit (:meth:`Editor.edit` of the source images).
    adapters : False bypasses A_CE / A_CD (normalise → channel → denormalise): Table IV's "without fine-tuning".
    name : the method name in the results.
    """

    def __init__(self, bundle: Bundle, edited: EditBatch, adapters: bool = True, name: str = OURS):
        self.bundle, self.edited, self.adapters, self.name = bundle, edited, adapters, name
        self.codec = bundle.adapters

    def _encode(self, w: Tensor, snr_db: float) -> Tensor:
        return self.codec.encode(w, snr_db) if self.adapters else self.codec.normalizer.encode(w)

    def _decode(self, y: Tensor, snr_db: float) -> Tensor:
        return self.codec.decode(y, snr_db) if self.adapters else self.codec.normalizer.decode(y)

    @torch.no_grad()
    def run(self, snr_db: float, channel: ChannelConfig, seed: int = 0) -> SchemeOutput:
        """Send the edited latents (N, D) at ``snr_db`` over ``channel``; output (N, 3, R, R)."""
        device = self.bundle.device
        w = self.edited.w_edited.to(device)
        n = w.shape[0]
        with measured(device) as m_ace:
            x = self._encode(w, snr_db)                                              # (N, k)
        with measured(device) as m_ch:
            y, out = estimate(x, channel, seed=seed, rescale=self.codec.cfg.rescale)
            y = y.to(device)                                                         # (N, k)
        with measured(device) as m_acd:
            w_hat = self._decode(y, snr_db)                                          # (N, D)
        with measured(device) as m_g:
            images = self.bundle.generator.synthesis(w_hat).clamp(-1, 1)             # (N, 3, R, R)
        adapters = Cost((m_ace.seconds + m_acd.seconds) / n, (m_ace.cpu_seconds + m_acd.cpu_seconds) / n)
        wall, cpu = _with_stages(self.edited.costs, {"adapters_s": adapters, "channel_s": Cost.per_image(m_ch, n),
                                                     "generator_s": Cost.per_image(m_g, n)}, render=False)
        k = x.shape[1]
        return SchemeOutput(self.name, images, channel_bandwidth_ratio(k, self.bundle.resolution), wall, cpu,
                            {"k": k, "channel_uses": int(out.received.shape[-1])})


class _LinkScheme:
    """Common part of the baselines: transmit a batch over an :class:`ImageLink` and time it."""

    def __init__(self, label: str, link: ImageLink, scheme: str):
        self.label, self.link, self.name = label, link, f"{label} {scheme}"

    def _transmit(self, images: Tensor, snr_db: float, channel: ChannelConfig, seed: int):
        with measured("cpu") as m:
            result = self.link.transmit(images.detach().cpu(), snr_db, channel, seed)
        received = result.images.to(images.device).float().clamp(-1, 1)
        if received.shape != images.shape:
            raise InvalidArgumentError(f"{self.label} returned images of shape {tuple(received.shape)} for "
                                       f"{tuple(images.shape)}")
        info = _summarise_info(getattr(result, "info", {}))
        return received, float(result.cbr), Cost.per_image(m, images.shape[0]), info


class SendThenEdit(_LinkScheme):
    """M1: the source image crosses the link; the receiver inverts and edits what arrives.

    Parameters
    ----------
    label, link : the baseline's name and its :class:`ImageLink`.
    editor : the receiver's :class:`Editor` (shared, so identical received images are edited once).
    sources : (N, 3, R, R) source images; edits : one ground-truth :class:`Edit` each.
    """

    def __init__(self, label: str, link: ImageLink, editor: Editor, sources: Tensor, edits: Sequence[Edit]):
        super().__init__(label, link, "M1")
        self.editor, self.sources, self.edits = editor, sources, list(edits)

    def run(self, snr_db: float, channel: ChannelConfig, seed: int = 0) -> SchemeOutput:
        received, cbr, link_cost, info = self._transmit(self.sources, snr_db, channel, seed)
        edited = self.editor.edit(received, self.edits)
        wall, cpu = _with_stages(edited.costs, {"link_s": link_cost}, render=True)
        return SchemeOutput(self.name, edited.images, cbr, wall, cpu, info)


class EditThenSend(_LinkScheme):
    """M2: the transmitter edits, the edited image crosses the link and is shown as received.

    Parameters
    ----------
    label, link : the baseline's name and its :class:`ImageLink`.
    edited : the transmitter's edit of the sources.
    """

    def __init__(self, label: str, link: ImageLink, edited: EditBatch):
        super().__init__(label, link, "M2")
        self.edited = edited

    def run(self, snr_db: float, channel: ChannelConfig, seed: int = 0) -> SchemeOutput:
        received, cbr, link_cost, info = self._transmit(self.edited.images, snr_db, channel, seed)
        wall, cpu = _with_stages(self.edited.costs, {"link_s": link_cost}, render=True)
        return SchemeOutput(self.name, received, cbr, wall, cpu, info)


def build_schemes(methods: Sequence[str], bundle: Bundle, links: dict[str, ImageLink], editor: Editor,
                  sources: Tensor, edits: Sequence[Edit], edited: EditBatch) -> dict[str, Any]:
    """One scheme object per method name (links must hold every baseline the methods need)."""
    schemes: dict[str, Any] = {}
    for method in methods:
        label, scheme = method_parts(method)
        if label is None:
            schemes[method] = EditableDeepSC(bundle, edited)
        elif label not in links:
            raise InvalidArgumentError(f"no link for {label!r} (method {method!r})")
        elif scheme == "M1":
            schemes[method] = SendThenEdit(label, links[label], editor, sources, edits)
        else:
            schemes[method] = EditThenSend(label, links[label], edited)
    return schemes


# ----------------------------------------------------------------------------------------------------------------
# The baselines' links
# ----------------------------------------------------------------------------------------------------------------

def _make_jpeg(jpeg_bpp: float, deepjscc_dir: Path) -> ImageLink:
    from edsc.baselines.jpeg_ldpc import JpegLdpcLink
    return JpegLdpcLink(bpp=jpeg_bpp)


def _make_deepjscc(jpeg_bpp: float, deepjscc_dir: Path) -> ImageLink:
    from edsc.baselines.deepjscc import DeepJSCCLink, load_deepjscc
    try:
        model = load_deepjscc(deepjscc_dir)
    except BundleError as exc:
        raise BundleError(f"{exc} (--deepjscc DIR names the weights; --methods can leave the DeepJSCC methods "
                          "out)") from None
    return DeepJSCCLink(model)


_FACTORIES = {"JPEG+LDPC": _make_jpeg, "DeepJSCC": _make_deepjscc}


def _probe(label: str, link: ImageLink, resolution: int) -> None:
    """Send one grey image at 18 dB: a link that cannot carry this resolution fails here, not hours later."""
    image = torch.zeros(1, 3, resolution, resolution)
    try:
        result = link.transmit(image, 18.0, ChannelConfig(model="awgn", snr_db=18.0), 0)
    except EditDSCError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure here is a setup problem, reported with its cause
        raise InvalidArgumentError(f"the {label} baseline cannot send {resolution}x{resolution} images: "
                                   f"{type(exc).__name__}: {exc}") from None
    if tuple(result.images.shape) != tuple(image.shape):
        raise InvalidArgumentError(f"the {label} baseline returned {tuple(result.images.shape)} for "
                                   f"{tuple(image.shape)}")


def build_links(labels: Sequence[str], resolution: int, deepjscc_dir: Path, jpeg_bpp: float = 0.7
                ) -> dict[str, ImageLink]:
    """The baselines' :class:`ImageLink` objects by label, each probed once at ``resolution``.

    Raises :class:`~shared.errors.EditDSCError` subclasses naming what is missing (module, weights, size).
    """
    links = {}
    for label in labels:
        try:
            link = _FACTORIES[label](jpeg_bpp, Path(deepjscc_dir))
        except ImportError as exc:
            raise InvalidArgumentError(f"the {label} baseline is not available ({exc}); --methods can leave it "
                                       "out") from None
        _probe(label, link, resolution)
        links[label] = link
    return links
