"""Where the inversion starts: the mean latent (the paper's choice) or the latent the image's own reading gives.

The paper's inversion (eq. 8–9) runs r_inv Adam steps from a start latent it does not name; Talk-to-Edit and the
StyleGAN2 projector start from the generator's mean latent. A bundle whose generator follows a known latent layout
(``manifest.latent_layout``, e.g. :data:`shared.models.world_latent.LAYOUT`) can start closer: its identity encoder
F reads the face's identity parameters from the image, its attribute predictor P reads the five degrees, and the
layout turns those parameters into a latent::

    w_0 = G.mapping(z_from_world_params(F.decode(F(S_I)), P(S_I).degree))        (B, D)

The r_inv steps of eq. 9 then refine w_0 exactly as they refine the mean. The loss, the step count and the rate
are the paper's; only the start moves. A start near the right face matters for thin features: MSE + LPIPS barely
see a mouth corner, so an inversion from the mean often settles on the wrong smile and never leaves it.

Modes (:attr:`transmitter.inversion.InversionConfig.init`): ``"mean"``, ``"encoder"`` (needs the layout, the
identity encoder and the predictor; a bundle without them is refused with a :class:`~shared.errors.BundleError`),
``"auto"`` (``"encoder"`` when the bundle has what it needs, else ``"mean"``).
"""

from __future__ import annotations

import json

import torch
from torch import Tensor, nn

from shared.errors import BundleError, InvalidArgumentError
from shared.models import world_latent as WL

INIT_MODES = ("auto", "mean", "encoder")
__all__ = ["INIT_MODES", "EncoderStart", "resolve_init", "encoder_start", "start_fingerprint"]


class EncoderStart(nn.Module):
    """w_0 from F and P through the SynthFace latent layout (module docstring).

    Parameters
    ----------
    generator : the bundle's generator (its ``mapping`` and ``style_dim`` are used).
    identity_encoder : :class:`shared.models.identity.IdentityEncoder` over the layout's identity parameters.
    predictor : the attribute predictor; its columns are reordered to the layout's attribute order.
    integer_fraction : the layout's share of integer degrees (``manifest.latent_layout.integer_fraction``).

    Input: images (B, 3, R, R) in [−1, 1]. Output: w_0 (B, D), detached.
    """

    def __init__(self, generator: nn.Module, identity_encoder: nn.Module, predictor: nn.Module,
                 integer_fraction: float):
        super().__init__()
        if list(identity_encoder.dims) != list(WL.SYNTHFACE_IDENTITY_DIMS):
            raise BundleError("the identity encoder does not read the SynthFace identity parameters, so the "
                              "encoder start cannot be used")
        missing = [a for a in WL.ATTRIBUTES if a not in predictor.attributes]
        if missing:
            raise BundleError(f"the predictor has no attribute(s) {missing}, so the encoder start cannot be used")
        WL.degree_from_uniform(torch.zeros(1), integer_fraction)     # validates integer_fraction
        self.generator, self.identity_encoder, self.predictor = generator, identity_encoder, predictor
        self.integer_fraction = float(integer_fraction)
        self.columns = [list(predictor.attributes).index(a) for a in WL.ATTRIBUTES]

    @torch.no_grad()
    def forward(self, images: Tensor) -> Tensor:
        if images.dim() != 4 or images.shape[1] != 3:
            raise InvalidArgumentError(f"images must have shape (B, 3, H, W), got {tuple(images.shape)}")
        identity = self.identity_encoder.decode(self.identity_encoder(images)).clamp(-1.0, 1.0)   # (B, 25)
        degrees = self.predictor.predict(images).degree[:, self.columns].float()                  # (B, 5)
        # the nuisance coordinates are not read by a layout generator's mapping; the same draw for every image, so
        # that an image's w_0 does not depend on the rest of its batch
        identity, degrees = identity.cpu(), degrees.cpu()
        z = torch.cat([WL.z_from_world_params(identity[i:i + 1], degrees[i:i + 1], self.generator.style_dim,
                                              torch.Generator(device="cpu").manual_seed(0), self.integer_fraction)
                       for i in range(identity.shape[0])])                                        # (B, D)
        param = next(self.generator.parameters())
        return self.generator.mapping(z.to(device=param.device, dtype=param.dtype)).detach()     # (B, D)


def resolve_init(mode: str, bundle) -> str:
    """The start a bundle gets for ``mode``: ``"mean"`` or ``"encoder"`` (raises for an impossible request)."""
    if mode not in INIT_MODES:
        raise InvalidArgumentError(f"inversion init must be one of {INIT_MODES}, got {mode!r}")
    if mode == "mean":
        return "mean"
    layout = bundle.latent_layout
    missing = [c for c in ("identity_encoder", "predictor") if not bundle.has(c)]
    usable = layout is not None and layout.get("name") == WL.LAYOUT and not missing
    if usable:
        return "encoder"
    if mode == "auto":
        return "mean"
    why = (f"it has no {missing} component(s)" if missing else
           "its manifest names no latent layout" if layout is None else
           f"its latent layout {layout.get('name')!r} is not {WL.LAYOUT!r}")
    raise BundleError(f"bundle {bundle.path} cannot start the inversion from the encoder: {why}")


def encoder_start(bundle) -> EncoderStart:
    """The :class:`EncoderStart` of a bundle whose :func:`resolve_init` gives ``"encoder"``."""
    layout = bundle.latent_layout or {}
    return EncoderStart(bundle.generator, bundle.load("identity_encoder"), bundle.predictor,
                        float(layout.get("integer_fraction", 0.7)))


def start_fingerprint(bundle, mode: str) -> str:
    """What a start of ``mode`` (as :func:`resolve_init` gives it) depends on besides the generator: ``"mean"``, or
    ``"encoder|<F sha256>|<P sha256>|<layout JSON>"``. Caches of inversions put it in their keys."""
    if mode != "encoder":
        return mode
    shas = "|".join(str(bundle.weights_sha256(c)) for c in ("identity_encoder", "predictor"))
    return f"encoder|{shas}|{json.dumps(bundle.latent_layout, sort_keys=True)}"
