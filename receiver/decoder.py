"""The receiver's decoder (paper Fig. 2, right): A_CD picked by SNR, then the StyleGAN generator (JSCD).

    Ŷ (k reals, equalised) ──A_CD(SNR)──▶ ŵ ──G (identical to the transmitter's)──▶ edited image
"""

from __future__ import annotations

import time

import torch

from shared.bundle import Bundle
from shared.errors import InvalidArgumentError


class ReceiverPipeline:
    """A_CD → G on one bundle and device.

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
