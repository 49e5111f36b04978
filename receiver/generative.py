"""The generative scheme's receiver (Han et al.): received values → codec decoder → flow inverse → head → G.

The received symbols are first estimated by the receiver's equaliser (:func:`receiver.equalization.recover`, the
same path as the Editable-DeepSC messages), then :class:`GenerativeDecoder` maps the k estimated reals to the
latent L̂ (B, 30) and draws the face the layout generator makes of it.
"""

from __future__ import annotations

import time

import torch
from torch import Tensor

from shared.errors import InvalidArgumentError
from shared.models.generative import GenerativeBank, load_generative, render_latent

__all__ = ["GenerativeDecoder"]


class GenerativeDecoder:
    """Decodes generative-scheme messages with a bundle's ``generative`` bank and generator.

    Parameters
    ----------
    bundle : the :class:`shared.bundle.Bundle` (its ``generative`` component is loaded on first use).
    """

    def __init__(self, bundle):
        self.bundle = bundle
        self._bank: GenerativeBank | None = None

    @property
    def bank(self) -> GenerativeBank:
        if self._bank is None:
            self._bank = load_generative(self.bundle)
        return self._bank

    @torch.no_grad()
    def latent(self, received: Tensor, k: int, flow: bool) -> Tensor:
        """L̂ (B, 30) from the equalised received reals (B, k)."""
        link = self.bank.variant(k, flow)
        if received.dim() != 2 or received.shape[1] != k:
            raise InvalidArgumentError(f"expected (B, {k}) received values for k={k}, got {tuple(received.shape)}")
        param = next(link.parameters())
        return link.decode(received.to(param.device, torch.float32)).clamp(-1.0, 1.0)   # (B, 30)

    @torch.no_grad()
    def decode(self, received: Tensor, k: int, flow: bool) -> tuple[Tensor, dict[str, float]]:
        """Images (B, 3, R, R) in [−1, 1] and timings (``decoder_s``, ``generator_s``)."""
        t0 = time.perf_counter()
        latent = self.latent(received, k, flow)
        t1 = time.perf_counter()
        layout = self.bundle.latent_layout or {}
        images = render_latent(self.bundle.generator, latent, float(layout.get("integer_fraction", 0.7)))
        t2 = time.perf_counter()
        return images.clamp(-1.0, 1.0), {"decoder_s": t1 - t0, "generator_s": t2 - t1}
