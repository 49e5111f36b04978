"""The transmitter's chain in one object: image + instruction → 512 real channel inputs (paper Fig. 2, left).

    S_I ──SE_I (inversion)──▶ w ──JECC (field steps until P reads a_exp)──▶ E ──A_CE(SNR)──▶ X (k = 512 reals)
    S_T ──SE_T (LSTM parser)──▶ (attribute, direction, Δ / target)  ─┘

The instruction is parsed first, so a bad instruction is refused before any compute. Batches of images are
inverted and edited together (the services' micro-batching relies on it). A follow-up edit can start from a
previous latent (``w_start``) and skip inversion: the paper's conversational use.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch

from shared.bundle import Bundle
from shared.channel.awgn_estimate import awgn_estimate
from shared.errors import BundleError, InvalidArgumentError
from shared.lpips import get_lpips
from transmitter.instruction import Edit, InstructionParser, expected_degree
from transmitter.inversion import DegreeGuard, InversionConfig, invert
from transmitter.inversion import ProgressFn as InversionProgressFn
from transmitter.inversion_init import encoder_start, resolve_init, start_fingerprint
from transmitter.jecc import EditOutcome, JECCConfig, run_jecc

ProgressFn = Callable[[str, int, int], None]   # (stage "inversion" | "editing", step, total)
JECC_CHANNEL_SEED = 0   # seed of JECC's simulated receptions (each run draws the same noise: edits are repeatable)


@dataclass
class TxOutput:
    """What the transmitter produces for one image."""

    edit: Edit
    outcome: EditOutcome
    x: torch.Tensor                    # (k,) real channel input after A_CE
    w_original: torch.Tensor           # (D,) inverted latent (or the session's start latent)
    w_edited: torch.Tensor             # (D,) latent after JECC
    inversion_lpips: float | None      # LPIPS(G(w), S_I) after inversion; None when inversion was skipped
    timings: dict[str, float] = field(default_factory=dict)   # seconds per stage (shared by the batch)

    @property
    def k(self) -> int:
        return int(self.x.numel())


def channel_bandwidth_ratio(k_real: int, resolution: int, channels: int = 3) -> float:
    """ρ = k / (H·W·C) with k counted in real values (the paper's convention: 512 / 49152 = 0.0104)."""
    return k_real / float(resolution * resolution * channels)


class TransmitterPipeline:
    """Inversion → JECC → A_CE on one bundle and device.

    Parameters
    ----------
    bundle : an opened :class:`~shared.bundle.Bundle` (its device is used).
    inversion : :class:`InversionConfig` (paper defaults).
    jecc : :class:`JECCConfig`.
    """

    def __init__(self, bundle: Bundle, inversion: InversionConfig | None = None, jecc: JECCConfig | None = None):
        for needed in ("predictor", "language", "fields", "adapters"):
            if not bundle.has(needed):
                raise BundleError(f"bundle {bundle.path} has no {needed!r} component, so it cannot edit")
        self.bundle = bundle
        self.device = bundle.device
        self.inversion_config = inversion or InversionConfig()
        self.jecc_config = jecc or JECCConfig()
        self.generator = bundle.generator
        self.predictor = bundle.predictor
        self.fields = bundle.fields
        self.adapters = bundle.adapters
        self.parser = InstructionParser(bundle.language, bundle.vocabulary(), bundle.attributes)
        self.lpips = get_lpips("alex", self.device)
        self.w_avg = bundle.adapters.normalizer.mean.detach().reshape(1, -1)     # (1, D) the mean latent
        self.init_mode = resolve_init(self.inversion_config.init, bundle)      # "mean" | "encoder"
        self._encoder_start = encoder_start(bundle) if self.init_mode == "encoder" else None

    @property
    def resolution(self) -> int:
        return self.bundle.resolution

    def parse(self, instructions: Sequence[str]) -> list[Edit]:
        """Parse every instruction (raises InvalidArgumentError naming the bad one)."""
        edits = []
        for i, text in enumerate(instructions):
            try:
                edits.append(self.parser.parse(text))
            except InvalidArgumentError as exc:
                prefix = f"instruction {i + 1}: " if len(instructions) > 1 else ""
                raise InvalidArgumentError(f"{prefix}{exc}") from None
        return edits

    @property
    def inversion_fingerprint(self) -> str:
        """What this pipeline's inversions depend on besides the generator, r_inv and the image: the start
        (:func:`~transmitter.inversion_init.start_fingerprint`) and, with the degree guard, P's sha256. Caches of
        inversions put it in their keys."""
        start = start_fingerprint(self.bundle, self.init_mode)
        if self.inversion_config.keep_degrees:
            start += f"|guard|{self.bundle.weights_sha256('predictor')}"
        return start

    def start_latent(self, images: torch.Tensor) -> torch.Tensor:
        """Where the inversion of ``images`` (B, 3, R, R) starts: (B, D) from the encoder, or the mean (1, D)."""
        if self._encoder_start is None:
            return self.w_avg
        return self._encoder_start(images.to(self.device))

    def invert(self, images: torch.Tensor, progress: ProgressFn | None = None,
               step_callback: InversionProgressFn | None = None, steps: int | None = None):
        """Invert ``images`` (B, 3, R, R) from :meth:`start_latent`, with the degree guard when the config asks for
        it; ``steps`` overrides the config's r_inv for this call. ``progress`` gets ("inversion", step, total);
        ``step_callback`` gets :func:`invert`'s (step, total, loss)."""
        if progress is not None:
            step_callback = lambda it, total, loss: progress("inversion", it, total)  # noqa: E731
        images = images.to(self.device)
        config = self.inversion_config if steps is None else dataclasses.replace(self.inversion_config, steps=steps)
        guard = DegreeGuard(self.predictor, images) if config.keep_degrees else None
        return invert(self.generator, images, self.lpips, config,
                      w_init=self.start_latent(images), progress=step_callback, guard=guard)

    def simulated_link(self, snr_db: Sequence[float], config: JECCConfig | None = None):
        """JECC's view of the link for a batch with these SNRs: (latents (b, D), rows (b,)) → one simulated
        reception A_CD(AWGN(A_CE(w))) at each row's SNR (:func:`~shared.channel.awgn_estimate.awgn_estimate`,
        seeded by :data:`JECC_CHANNEL_SEED`); None when the config asks for no draws. The transmitter knows the
        SNR but not the channel model, so it anticipates AWGN; under fading this is an approximation."""
        if (config or self.jecc_config).channel_draws <= 0:
            return None
        snr = torch.as_tensor(list(snr_db), dtype=torch.float32, device=self.device)          # (B,)
        noise = torch.Generator().manual_seed(JECC_CHANNEL_SEED)
        codec = self.adapters

        def link(w: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
            s = snr[rows]                                                                       # (b,)
            y = awgn_estimate(codec.encode(w, s), s, rescale=codec.cfg.rescale, generator=noise)
            return codec.decode(y, s)                                                           # (b, D)

        return link

    def run(self, edits: Sequence[Edit], snr_db: Sequence[float], *, images: torch.Tensor | None = None,
            w_start: torch.Tensor | None = None, inversion_steps: int | None = None, edit_steps: int | None = None,
            progress: ProgressFn | None = None) -> list[TxOutput]:
        """Run the chain on a batch of parsed edits (:meth:`parse` turns instructions into edits).

        Parameters
        ----------
        edits : one :class:`Edit` per item.
        snr_db : one per item: picks the A_CE adapter level.
        images : (B, 3, R, R) in [−1, 1] to invert; or None when ``w_start`` is given.
        w_start : (B, D) start latents (a session's last latent): inversion is skipped.
        inversion_steps, edit_steps : this call's r_inv and r_edit (None: the pipeline's configs). Nothing shared
            is changed, so concurrent callers with different budgets do not interfere.
        progress : called as (stage, step, total); an exception it raises stops the run (cancellation).

        Output
        ------
        list of :class:`TxOutput`, one per item.
        """
        edits = list(edits)
        batch = len(edits)
        if batch == 0:
            raise InvalidArgumentError("no edits to run")
        if not all(isinstance(e, Edit) for e in edits):
            raise InvalidArgumentError("run() takes parsed edits; use parse() on instruction text first")
        if len(snr_db) != batch:
            raise InvalidArgumentError(f"{len(snr_db)} SNR values for {batch} items")

        t1 = time.perf_counter()
        if w_start is not None:
            w = w_start.to(self.device).reshape(batch, -1)                                   # (B, D)
            inv_lpips: list[float | None] = [None] * batch
        else:
            if images is None or images.shape[0] != batch:
                raise InvalidArgumentError("one image per edit is needed when no start latent is given")
            result = self.invert(images, progress, steps=inversion_steps)
            w = result.w                                                                     # (B, D)
            inv_lpips = [float(v) for v in result.lpips]
        t_inv = time.perf_counter() - t1

        t2 = time.perf_counter()
        names = self.bundle.attributes
        attr_index = [names.index(e.attribute) for e in edits]
        u = self.bundle.max_degree

        def targets(degrees: torch.Tensor) -> list[int]:
            return [expected_degree(e, int(degrees[i, attr_index[i]]), u) for i, e in enumerate(edits)]

        jecc_config = self.jecc_config if edit_steps is None else dataclasses.replace(self.jecc_config,
                                                                                      max_steps=edit_steps)
        step_cb = (lambda s, total, left: progress("editing", s, total)) if progress else None
        jecc = run_jecc(self.generator, self.predictor, self.fields, w, attr_index, targets,
                        jecc_config, progress=step_cb, channel=self.simulated_link(snr_db, jecc_config))
        t_edit = time.perf_counter() - t2

        t3 = time.perf_counter()
        with torch.no_grad():
            x = self.adapters.encode(jecc.w, torch.as_tensor(list(snr_db), dtype=torch.float32))   # (B, k)
        t_ace = time.perf_counter() - t3
        timings = {"inversion_s": t_inv, "jecc_s": t_edit, "adapter_s": t_ace}
        return [TxOutput(edit=edits[i], outcome=jecc.outcomes[i], x=x[i].detach(), w_original=w[i].detach(),
                         w_edited=jecc.w[i].detach(), inversion_lpips=inv_lpips[i], timings=dict(timings))
                for i in range(batch)]
