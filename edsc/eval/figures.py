"""The evaluation's two kinds of figure, shared by Fig. 4 (:mod:`edsc.eval.report`) and Fig. 8
(:mod:`edsc.eval.ood`): metric-against-SNR curves, one line per method, and a grid of sample images."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from torch import Tensor

from edsc.eval.schemes import OURS

__all__ = ["figure", "snr_curves", "sample_grid", "show"]

#: the metrics plotted against SNR, in this order, when the rows have them
CURVE_METRICS = ("lpips", "fid", "kid")


def figure(n_axes: int, width: float = 4.2):
    """A constrained-layout figure with ``n_axes`` side by side, ``width`` inches each; (figure, axes)."""
    from matplotlib.figure import Figure
    fig = Figure(figsize=(width * n_axes, 3.4), layout="constrained")
    return fig, [fig.add_subplot(1, n_axes, i + 1) for i in range(n_axes)]


def snr_curves(rows: Sequence[Mapping[str, Any]], title: str, path: Path, width: float = 4.2) -> Path:
    """LPIPS (and FID / KID when the rows have them) against ``snr_db``, one line per method (ours thicker),
    one panel per metric; saved to ``path``.

    Parameters
    ----------
    rows : one row per (method, SNR) with ``method``, ``snr_db`` and the metrics
    title : the figure's title
    path : the PNG written
    width : inches per panel
    """
    metrics = [m for m in CURVE_METRICS if m in rows[0]]
    fig, axes = figure(len(metrics), width)
    for ax, metric in zip(axes, metrics):
        for method in dict.fromkeys(r["method"] for r in rows):
            curve = sorted((r["snr_db"], r[metric]) for r in rows if r["method"] == method)
            ax.plot([c[0] for c in curve], [c[1] for c in curve], marker="o", label=method,
                    linewidth=2.5 if method == OURS else 1.5)
        ax.set_xlabel("SNR (dB)")
        ax.set_ylabel(metric.upper())
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.savefig(path, dpi=110)
    return path


def sample_grid(header: Mapping[str, Tensor], cells: Mapping[tuple[str, float], Tensor], path: Path,
                header_prefix: str = "") -> Path:
    """One face: a first row of ``header`` images (e.g. source, ideal edit, reference), then one row per method
    with its received image at every SNR; saved to ``path``.

    Parameters
    ----------
    header : title -> image (3, H, W) in [-1, 1]
    cells : (method, snr_db) -> image (3, H, W) in [-1, 1]
    path : the PNG written
    header_prefix : put before each header title
    """
    from matplotlib.figure import Figure

    methods = list(dict.fromkeys(k[0] for k in cells))
    snrs = sorted({k[1] for k in cells})
    cols = max(len(snrs), len(header))
    fig = Figure(figsize=(1.6 * cols, 1.7 * (len(methods) + 1)), layout="constrained")
    axes = fig.subplots(len(methods) + 1, cols, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for j, (name, image) in enumerate(header.items()):
        show(axes[0][j], image, header_prefix + name)
    for i, method in enumerate(methods, start=1):
        for j, snr in enumerate(snrs):
            show(axes[i][j], cells[(method, snr)], f"{method}\n{snr:g} dB")
    fig.savefig(path, dpi=100)
    return path


def show(ax: Any, image: Tensor, title: str) -> None:
    """Draws ``image`` (3, H, W) in [-1, 1] on ``ax`` with a small title and no axes."""
    ax.imshow(((image.float().clamp(-1, 1) + 1) / 2).permute(1, 2, 0).cpu().numpy())
    ax.set_title(title, fontsize=6)
    ax.axis("off")
