"""The receiver (paper Fig. 2, right): equalisation, A_CD picked by SNR, then the StyleGAN generator (JSCD).

    received symbols + side info ──equalise──▶ Ŷ (k reals) ──A_CD(SNR)──▶ ŵ ──G (the transmitter's)──▶ image

:meth:`ReceiverPipeline.receive` runs the whole chain on what the channel delivered;
:meth:`ReceiverPipeline.equalize` and :meth:`ReceiverPipeline.decode` are its two halves.
"""

from __future__ import annotations

import time

import torch

from receiver.equalization import RECOVER_EQUALIZERS, recover
from shared.bundle import Bundle
from shared.channel.csi import SideInfo
from shared.errors import InvalidArgumentError, quote


class ReceiverPipeline:
    """Equalisation → A_CD → G on one bundle and device.

    Parameters
    ----------
    bundle : an opened :class:`~shared.bundle.Bundle`; only its generator and adapters are loaded.
    """

    def __init__(self, bundle: Bundle):
        self.bundle = bundle
        self.device = bundle.device
        self.generator = bundle.generator
        self.adapters = bundle.adapters

    @property
    def rescale(self) -> bool:
        """Whether the bundle's codec expects the gain header undone (``recover(..., rescale=True)``)."""
        return bool(self.adapters.cfg.rescale)

    @property
    def k(self) -> int:
        return self.bundle.manifest.latent_dim

    def equalize(self, received: torch.Tensor, side_info: SideInfo, equalizer: str = "mmse") -> torch.Tensor:
        """Estimate the sent real values from the received symbols (:func:`receiver.equalization.recover`), with
        the gain header undone when the bundle's codec expects it (:attr:`rescale`).

        Input
        -----
        received : (B, n_uses) complex, the resource elements as the channel delivered them.
        side_info : the :class:`~shared.channel.csi.SideInfo` that came with them.
        equalizer : one of :data:`~receiver.equalization.RECOVER_EQUALIZERS` ("mmse", "zf", "none").

        Output
        ------
        y : (B, k) float32 on the pipeline's device; differentiable w.r.t. ``received``.
        """
        if equalizer not in RECOVER_EQUALIZERS:
            raise InvalidArgumentError(f"unknown equalizer {quote(equalizer, 40)}; use one of "
                                       f"{', '.join(RECOVER_EQUALIZERS)}")
        return recover(received.to(self.device), side_info.to(self.device), equalizer,
                       rescale=self.rescale)                                      # (B, k)

    @torch.no_grad()
    def receive(self, received: torch.Tensor, side_info: SideInfo, *, equalizer: str = "mmse",
                snr_db: torch.Tensor | list[float] | float | None = None) -> tuple[torch.Tensor, dict]:
        """The whole receiver: equalise what the channel delivered, then A_CD → G.

        Input
        -----
        received : (B, n_uses) complex, the resource elements as the channel delivered them.
        side_info : the :class:`~shared.channel.csi.SideInfo` that came with them.
        equalizer : "mmse" (default), "zf" or "none" (see :func:`receiver.equalization.recover`).
        snr_db : the SNR that picks the A_CD level, one per message or one for all; None (default) takes the
            SNR the channel reported, ``side_info.snr_db``.

        Output
        ------
        images : (B, 3, R, R) in [−1, 1] (clamped).
        timings : seconds for the equaliser (``equalize_s``), the adapter and the generator.
        """
        t0 = time.perf_counter()
        y = self.equalize(received, side_info, equalizer)                         # (B, k)
        t1 = time.perf_counter()
        images, timings = self.decode(y, side_info.snr_db if snr_db is None else snr_db)
        return images, {"equalize_s": t1 - t0, **timings}

    @torch.no_grad()
    def decode(self, y: torch.Tensor, snr_db: torch.Tensor | list[float] | float) -> tuple[torch.Tensor, dict]:
        """Decode equalised channel outputs into images.

        Input
        -----
        y : (B, k) real, the equalised received values (same pairing as sent).
        snr_db : the SNR the channel reported, one per message or one for all: picks the A_CD level.

        Output
        ------
        images : (B, 3, R, R) in [−1, 1] (clamped).
        timings : seconds for the adapter and the generator.
        """
        if y.dim() != 2 or y.shape[1] != self.k:
            raise InvalidArgumentError(f"receiver expects (B, {self.k}) real values, got {tuple(y.shape)}")
        if not torch.isfinite(y).all():
            raise InvalidArgumentError("received values contain NaN or Inf")
        snr = torch.as_tensor(snr_db, dtype=torch.float32).reshape(-1)
        if snr.numel() == 1:
            snr = snr.expand(y.shape[0])
        t0 = time.perf_counter()
        w_hat = self.adapters.decode(y.to(self.device, torch.float32), snr)       # (B, D)
        t1 = time.perf_counter()
        images = self.generator.synthesis(w_hat).clamp(-1, 1)                     # (B, 3, R, R)
        t2 = time.perf_counter()
        return images, {"adapter_s": t1 - t0, "generator_s": t2 - t1}

    @torch.no_grad()
    def render(self, w: torch.Tensor) -> torch.Tensor:
        """G(w) without a channel (the noiseless reference of an edit). (B, D) → (B, 3, R, R)."""
        return self.generator.synthesis(w.to(self.device)).clamp(-1, 1)
