"""Image losses for distilling the SynthFace renderer into the generator.

A pixel L1 plus LPIPS reaches a low LPIPS long before thin, high-contrast features (eyeglass rims, the mouth
line, brows) are drawn: they cover ~1 % of the pixels, so dropping them costs little of either loss. The terms
here give those features their own weight:

* :func:`edge_weight_map` / :func:`weighted_l1`: the pixel L1 with each pixel weighted by ``1 + strength·e``,
  where ``e`` in [0, 1] is the target's (dilated) edge strength — errors on and next to the target's lines count
  up to ``1 + strength`` times;
* :func:`gradient_l1`: L1 between the finite-difference image gradients of output and target (a missing one-pixel
  line costs two full-contrast gradient errors, a blurred edge costs as much as its blur).

All functions take images in [-1, 1] of shape (B, 3, H, W) and return one value per image, (B,), so callers can
average, weight or inspect them per face.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from shared.errors import InvalidArgumentError

__all__ = ["image_gradients", "edge_strength", "edge_weight_map", "weighted_l1", "gradient_l1", "l1",
           "change_weight_map", "change_boxes", "crop_boxes"]


def _check_pair(a: Tensor, b: Tensor) -> None:
    if a.shape != b.shape or a.dim() != 4:
        raise InvalidArgumentError(f"losses need two (B, C, H, W) tensors of equal shape, got {tuple(a.shape)} "
                                   f"and {tuple(b.shape)}")


def image_gradients(x: Tensor) -> tuple[Tensor, Tensor]:
    """Forward differences along x and y.

    Input: x (B, C, H, W). Output: dx (B, C, H, W-1), dy (B, C, H-1, W).
    """
    return x[..., :, 1:] - x[..., :, :-1], x[..., 1:, :] - x[..., :-1, :]


def edge_strength(x: Tensor, ref: float = 0.25, dilate: int = 3) -> Tensor:
    """Edge map of ``x`` in [0, 1]: channel-summed absolute gradient / ``ref``, clipped, max-pooled.

    Parameters
    ----------
    x : (B, C, H, W) image in [-1, 1]
    ref : gradient magnitude (in [-1, 1] units, summed over the channels) that counts as a full edge
    dilate : odd max-pool window that widens the map so pixels next to a line count too (1 = off)

    Output: (B, 1, H, W) in [0, 1].
    """
    dx, dy = image_gradients(x)
    g = F.pad(dx.abs().sum(1, keepdim=True), (0, 1, 0, 0)) + F.pad(dy.abs().sum(1, keepdim=True), (0, 0, 0, 1))
    e = (g / ref).clamp(max=1.0)                                           # (B, 1, H, W)
    if dilate > 1:
        e = F.max_pool2d(e, dilate, stride=1, padding=dilate // 2)
    return e


def edge_weight_map(target: Tensor, strength: float, ref: float = 0.25, dilate: int = 3) -> Tensor:
    """Per-pixel weight ``1 + strength · edge_strength(target)``, (B, 1, H, W); no gradient flows through it."""
    with torch.no_grad():
        return 1.0 + strength * edge_strength(target, ref, dilate)


def change_weight_map(target: Tensor, changed: Tensor, eps: float = 1e-3) -> Tensor:
    """Where ``target`` and ``changed`` (the same faces with one attribute moved by a degree) differ, (B, 1, H, W),
    scaled to mean 1 per image; no gradient flows through it. With :func:`weighted_l1` it is the error on the
    pixels that carry the attribute's degree (mouth corners, rims, bang edges), which the plain L1 averages away.
    """
    _check_pair(target, changed)
    with torch.no_grad():
        m = (target - changed).abs().mean(1, keepdim=True)                  # (B, 1, H, W)
        return m / (m.flatten(1).mean(1).view(-1, 1, 1, 1) + eps)


def change_boxes(weight: Tensor, min_size: int = 32, margin: int = 4, rel: float = 0.35) -> Tensor:
    """Square boxes around where a :func:`change_weight_map` is large, one per image, for :func:`crop_boxes`.

    A box covers the pixels whose weight exceeds ``rel`` times the image's largest weight, widened by ``margin``
    pixels, made square and at least ``min_size`` pixels wide, and moved inside the image. An image whose map is
    all zero (nothing changed) gets the whole image.

    Input: weight (B, 1, H, W) with H = W. Output: boxes (B, 4) float as (x0, y0, x1, y1) in pixels, x1/y1 exclusive.
    """
    if weight.dim() != 4 or weight.shape[1] != 1 or weight.shape[2] != weight.shape[3]:
        raise InvalidArgumentError(f"weight must have shape (B, 1, S, S), got {tuple(weight.shape)}")
    size = weight.shape[-1]
    with torch.no_grad():
        w = weight[:, 0]                                                     # (B, S, S)
        peak = w.flatten(1).amax(1)                                          # (B,)
        on = (w > rel * peak.view(-1, 1, 1)) & (peak.view(-1, 1, 1) > 0)     # (B, S, S)
        idx = torch.arange(size, device=w.device, dtype=torch.float32)
        cols, rows = on.any(1), on.any(2)                                    # (B, S) each
        big = torch.tensor(float(size), device=w.device)
        x0 = torch.where(cols, idx, big).amin(1)
        x1 = torch.where(cols, idx + 1, -big).amax(1)
        y0 = torch.where(rows, idx, big).amin(1)
        y1 = torch.where(rows, idx + 1, -big).amax(1)
        empty = ~on.flatten(1).any(1)
        side = torch.maximum(x1 - x0, y1 - y0) + 2 * margin
        side = side.clamp(min=float(min_size), max=float(size))
        side = torch.where(empty, big, side)
        cx = torch.where(empty, big / 2, (x0 + x1) / 2)
        cy = torch.where(empty, big / 2, (y0 + y1) / 2)
        bx0 = (cx - side / 2).clamp(min=0.0)
        by0 = (cy - side / 2).clamp(min=0.0)
        bx0 = torch.minimum(bx0, big - side)
        by0 = torch.minimum(by0, big - side)
        return torch.stack([bx0, by0, bx0 + side, by0 + side], 1)


def crop_boxes(images: Tensor, boxes: Tensor, out_size: int) -> Tensor:
    """Bilinear crops of ``images`` (B, C, H, W) inside ``boxes`` (B, 4) (from :func:`change_boxes`), resized to
    ``out_size`` × ``out_size``: (B, C, out_size, out_size). Differentiable with respect to ``images``."""
    from torchvision.ops import roi_align

    if boxes.shape != (images.shape[0], 4):
        raise InvalidArgumentError(f"boxes must have shape ({images.shape[0]}, 4), got {tuple(boxes.shape)}")
    rois = torch.cat([torch.arange(images.shape[0], device=images.device, dtype=images.dtype).view(-1, 1),
                      boxes.to(images.dtype)], 1)                            # (B, 5)
    return roi_align(images, rois, (out_size, out_size), spatial_scale=1.0, sampling_ratio=2, aligned=True)


def l1(output: Tensor, target: Tensor) -> Tensor:
    """Mean absolute error per image, (B,)."""
    _check_pair(output, target)
    return (output - target).abs().flatten(1).mean(1)


def weighted_l1(output: Tensor, target: Tensor, weight: Tensor | None) -> Tensor:
    """Mean of ``weight · |output − target|`` per image, (B,). ``weight`` (B, 1, H, W) or None (plain L1)."""
    _check_pair(output, target)
    err = (output - target).abs()
    if weight is not None:
        err = err * weight
    return err.flatten(1).mean(1)


def gradient_l1(output: Tensor, target: Tensor) -> Tensor:
    """L1 between the image gradients of output and target, per image (B,) (dx and dy terms averaged)."""
    _check_pair(output, target)
    ox, oy = image_gradients(output)
    tx, ty = image_gradients(target)
    return 0.5 * ((ox - tx).abs().flatten(1).mean(1) + (oy - ty).abs().flatten(1).mean(1))
