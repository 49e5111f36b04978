"""`edsc eval generative`: the generative scheme (Han et al.) against DeepJSCC and JPEG + LDPC, and its privacy.

Faces: ``heldout/generative`` SynthFace renders (never training faces), with their ground-truth parameters.

1. **Inversion** (cached, resumable): the encoder start and :func:`transmitter.generative.invert_head`; the
   image quality of the inverted latent without any channel is the scheme's ceiling (also: the encoder start
   alone, the ground-truth latent drawn by the generator, and optionally the plain-w inversion).
2. **PSNR / LPIPS (AlexNet and VGG) vs SNR** for every shipped variant (k = 16, 160; flow on / off) over the
   project's channel emulator (AWGN), against the shipped DeepJSCC (1/12 in reals = 1/24 in complex uses) and
   JPEG + LDPC, on the same faces.
3. **Flatness**: per link, the spread (max − min) of mean PSNR and LPIPS across the SNRs and the least-squares
   slope per dB.
4. **Privacy** (one SNR, the largest k with the flow): per mode ``none`` / ``identity`` / ``eyes``, how far the
   private parameters moved (identity encoder's reading of the received face against the truth), whether the
   other identity parameters and the five attributes were kept (identity encoder; evaluation predictor's exact
   degree rate), and the re-identification rate: nearest neighbour of the received face's reading among the
   readings of all sent faces (the gallery), on the mode's private parameters, on the identity mode's 20, on the
   eyes mode's 3 and on all 25 (errors likewise per group), so every mode can be compared with ``none``.
5. **Claims**: the paper's qualitative claims checked against these numbers.

Writes ``results.json``, ``results.md`` and ``psnr_lpips.png`` into the output directory.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from edsc.world.faces import heldout_faces
from edsc.world.seeds import stable_seed
from shared.atomic_io import write_json_atomic
from shared.errors import InvalidArgumentError
from shared.models import world_latent as WL
from shared.models.generative import cbr, latent_from_params, load_generative, render_latent

__all__ = ["GenerativeEvalConfig", "run_generative_eval", "write_outputs"]


@dataclass
class GenerativeEvalConfig:
    """Parameters of :func:`run_generative_eval` (faces, SNRs, inversion steps, privacy SNR, baselines)."""

    faces: int = 24
    seed: int = 0
    snrs: tuple[float, ...] = (-6.0, 0.0, 6.0, 12.0, 18.0)
    inversion_steps: int = 20
    w_steps: int = 0
    privacy_snr: float = 18.0
    baselines: tuple[str, ...] = ("deepjscc", "jpeg")
    batch: int = 8

    def __post_init__(self) -> None:
        if self.faces < 2:
            raise InvalidArgumentError(f"faces must be >= 2, got {self.faces}")
        self.snrs = tuple(float(s) for s in self.snrs)
        if not self.snrs:
            raise InvalidArgumentError("at least one SNR is needed")
        unknown = sorted(set(self.baselines) - {"deepjscc", "jpeg"})
        if unknown:
            raise InvalidArgumentError(f"unknown baseline(s) {unknown}; use deepjscc, jpeg")
        if self.inversion_steps < 0 or self.w_steps < 0:
            raise InvalidArgumentError("inversion step counts must be >= 0")


def _psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    from edsc.baselines.common import psnr
    return psnr(a.clamp(-1, 1), b)


def _lpips(net: str, a: torch.Tensor, b: torch.Tensor, batch: int = 16) -> torch.Tensor:
    from shared.lpips import get_lpips
    fn = get_lpips(net)
    with torch.no_grad():
        return torch.cat([fn(a[i:i + batch].clamp(-1, 1), b[i:i + batch]).reshape(-1)
                          for i in range(0, a.shape[0], batch)]).cpu()


def _quality(received: torch.Tensor, sent: torch.Tensor) -> dict[str, float]:
    p = _psnr(received, sent)
    return {"psnr": round(float(p.mean()), 3), "lpips_alex": round(float(_lpips("alex", received, sent).mean()), 4),
            "lpips_vgg": round(float(_lpips("vgg", received, sent).mean()), 4)}


def _render(generator, latent: torch.Tensor, batch: int) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([render_latent(generator, latent[i:i + batch]) for i in range(0, latent.shape[0], batch)])


def _invert(bundle, images, cfg: GenerativeEvalConfig, cache: Path | None, log) -> dict[str, torch.Tensor]:
    from shared.lpips import get_lpips
    from transmitter.generative import HeadInversionConfig, invert_head, read_latent

    key = f"n{cfg.faces}-s{cfg.seed}-r{cfg.inversion_steps}-b{cfg.batch}-{(bundle.weights_sha256('generator') or '')[:12]}"
    path = cache / f"inversions-{key}.pt" if cache is not None else None
    if path is not None and path.is_file():
        log(f"inversions from {path}")
        return torch.load(path)
    t0 = time.perf_counter()
    start = read_latent(images, bundle.load("identity_encoder"), bundle.predictor)           # (N, 30)
    lp = get_lpips("alex")
    inv = []
    for i in range(0, images.shape[0], cfg.batch):
        inv.append(invert_head(bundle.generator, images[i:i + cfg.batch], start[i:i + cfg.batch],
                               HeadInversionConfig(steps=cfg.inversion_steps), lp))
        log(f"inverted {min(i + cfg.batch, images.shape[0])}/{images.shape[0]}")
    out = {"start": start, "latent": torch.cat(inv), "seconds": torch.tensor(time.perf_counter() - t0)}
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(out, path)
    return out


def _spread(rows: list[dict[str, Any]], key: str) -> dict[str, float]:
    xs = [r["snr_db"] for r in rows]
    ys = [r[key] for r in rows]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den > 0 else 0.0
    return {"range": round(max(ys) - min(ys), 4), "slope_per_db": round(slope, 5)}


def _reading(bundle, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(identity encoder's identity (N, 25), evaluation predictor's degrees (N, 5)) of images."""
    enc = bundle.load("identity_encoder")
    pred = bundle.load("eval_predictor") if bundle.has("eval_predictor") else bundle.predictor
    cols = [list(pred.attributes).index(a) for a in WL.ATTRIBUTES]
    with torch.no_grad():
        ident = enc.decode(enc(images)).clamp(-1, 1).cpu()
        deg = pred.predict(images).degree[:, cols].float().cpu()
    return ident, deg


def _abs_err(a: torch.Tensor, b: torch.Tensor, idx: list[int]) -> torch.Tensor:
    """|a − b| on identity coordinates idx (hues wrapped): (N, len(idx))."""
    from shared.models.identity import SYNTHFACE_CYCLIC_DIMS
    err = (a[:, idx] - b[:, idx]).abs()
    for j, i in enumerate(idx):
        if WL.SYNTHFACE_IDENTITY_DIMS[i] in SYNTHFACE_CYCLIC_DIMS:
            err[:, j] = torch.minimum(err[:, j], 2.0 - err[:, j])
    return err


def _reid(probe: torch.Tensor, gallery: torch.Tensor, idx: list[int]) -> float:
    d = torch.cdist(probe[:, idx], gallery[:, idx], p=1)                                 # (N, N)
    return round(float((d.argmin(1) == torch.arange(probe.shape[0])).float().mean()), 4)


def _privacy(bundle, bank, images, truth_id, truth_deg, latent, cfg: GenerativeEvalConfig, log) -> dict[str, Any]:
    from edsc.link import estimate
    from transmitter.generative import PRIVACY_MODES, privacy_filter, private_index

    k = max(bank.available_k())
    link = bank.variant(k, True) if f"k{k}-flow" in bank else bank.variant(k, False)
    gallery, _ = _reading(bundle, images)
    all_id = list(range(WL.N_ID))
    out: dict[str, Any] = {"variant": f"k{k}-{'flow' if link.has_flow else 'noflow'}", "snr_db": cfg.privacy_snr,
                           "faces": int(images.shape[0]), "chance_reid": round(1.0 / images.shape[0], 4),
                           "modes": {}}
    for mode in PRIVACY_MODES:
        seeds = [stable_seed("generative-privacy", cfg.seed, i) for i in range(latent.shape[0])]
        filt = privacy_filter(latent, mode, seeds)
        with torch.no_grad():
            y, _ = estimate(link.encode(filt.latent), {"model": "awgn", "snr_db": cfg.privacy_snr},
                            seed=stable_seed("generative-eval-ch", cfg.seed, "privacy") % (2 ** 62))
            received = _render(bundle.generator, link.decode(y).clamp(-1, 1), cfg.batch).clamp(-1, 1)
        ident, deg = _reading(bundle, received)
        priv = private_index(mode) or private_index("identity")
        rest = [i for i in all_id if i not in priv]
        row = {
            "private_dims": len(private_index(mode)),
            "filter_satisfied": round(float(filt.satisfied.float().mean()), 4),
            "private_err_vs_truth": round(float(_abs_err(ident, truth_id, priv).mean()), 4),
            "other_identity_err_vs_truth": round(float(_abs_err(ident, truth_id, rest).mean()), 4),
            "attributes_exact": round(float((deg == truth_deg.round()).float().mean()), 4),
            "attributes_mae": round(float((deg - truth_deg).abs().mean()), 4),
            "err_identity20_vs_truth": round(float(_abs_err(ident, truth_id, private_index("identity")).mean()), 4),
            "err_eyes_vs_truth": round(float(_abs_err(ident, truth_id, private_index("eyes")).mean()), 4),
            "reid_private": _reid(ident, gallery, priv),
            "reid_identity20": _reid(ident, gallery, private_index("identity")),
            "reid_eyes": _reid(ident, gallery, private_index("eyes")),
            "reid_all25": _reid(ident, gallery, all_id),
            "psnr": round(float(_psnr(received, images).mean()), 3),
        }
        if mode == "none":
            row["note"] = "private columns measured on the identity mode's parameters"
        out["modes"][mode] = row
        log(f"privacy {mode}: {row}")
    out["sender_baseline"] = {
        "reading_err_vs_truth_private": round(float(_abs_err(gallery, truth_id, private_index("identity")).mean()),
                                              4)}
    return out


def _range(rows: list[dict[str, Any]], key: str, min_snr: float = -math.inf) -> float:
    ys = [r[key] for r in rows if r["snr_db"] >= min_snr]
    return round(max(ys) - min(ys), 3) if ys else float("nan")


def _claims(res: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The paper's qualitative claims, evaluated on the measured rows: ``{claim: {"holds", "detail"}}``."""
    links = res["links"]
    out: dict[str, dict[str, Any]] = {}
    dj = links.get("deepjscc")
    ours = {n: v for n, v in links.items() if n.startswith("k")}
    if dj is not None:
        for n, v in ours.items():
            pairs = list(zip(v["rows"], dj["rows"]))
            d_lp = [round(a["lpips_vgg"] - b["lpips_vgg"], 4) for a, b in pairs]
            d_ps = [round(a["psnr"] - b["psnr"], 2) for a, b in pairs]
            out[f"{n}: LPIPS-vgg below DeepJSCC at every SNR"] = {
                "holds": all(d < 0 for d in d_lp), "detail": f"difference per SNR {d_lp}"}
            out[f"{n}: PSNR below DeepJSCC at every SNR (the paper: slightly)"] = {
                "holds": all(d < 0 for d in d_ps), "detail": f"difference per SNR {d_ps} dB"}
            mine, theirs = _range(v["rows"], "psnr"), _range(dj["rows"], "psnr")
            out[f"{n}: PSNR flatter across SNR than DeepJSCC"] = {
                "holds": mine < theirs,
                "detail": f"PSNR range {mine} dB vs {theirs} dB over all SNRs; at >= 6 dB "
                          f"{_range(v['rows'], 'psnr', 6.0)} vs {_range(dj['rows'], 'psnr', 6.0)} dB"}
    for k in sorted({int(n.split("-")[0][1:]) for n in ours}):
        a, b = links.get(f"k{k}-flow"), links.get(f"k{k}-noflow")
        if a and b:
            gain = [round(x["psnr"] - y["psnr"], 2) for x, y in zip(a["rows"], b["rows"])]
            lp = [round(x["lpips_vgg"] - y["lpips_vgg"], 4) for x, y in zip(a["rows"], b["rows"])]
            out[f"k{k}: flow raises PSNR at every SNR"] = {
                "holds": all(g > 0 for g in gain),
                "detail": f"gain per SNR {gain} dB ({sum(g > 0 for g in gain)} of {len(gain)}; mean "
                          f"{sum(gain) / len(gain):+.2f} dB)"}
            out[f"k{k}: flow lowers LPIPS-vgg at every SNR"] = {
                "holds": all(d < 0 for d in lp),
                "detail": f"change per SNR {lp} ({sum(d < 0 for d in lp)} of {len(lp)})"}
    return out


def _figure(res: dict[str, Any], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for name, v in res["links"].items():
        xs = [r["snr_db"] for r in v["rows"]]
        style = "--" if "noflow" in name else "-"
        for ax, key in zip(axes, ("psnr", "lpips_alex", "lpips_vgg")):
            ax.plot(xs, [r[key] for r in v["rows"]], style, marker="o", label=name)
    for ax, title in zip(axes, ("PSNR (dB)", "LPIPS (AlexNet)", "LPIPS (VGG)")):
        ax.set_xlabel("SNR (dB), AWGN")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _markdown(res: dict[str, Any]) -> str:
    lines = ["# Generative scheme (Han et al.) on SynthFace 128 px", "",
             f"Command: `{res['command']}`; {res['faces']} held-out faces, AWGN, {res['machine']}; "
             f"{res['seconds']} s for this run; the {res['inversion']['steps']}-step head inversions took "
             f"{res['inversion']['seconds']} s when computed (a rerun reads them from the store).", "",
             "## Ceilings (no channel)", "", "| latent | PSNR | LPIPS-alex | LPIPS-vgg |", "|---|---|---|---|"]
    for name, q in res["ceilings"].items():
        lines.append(f"| {name} | {q['psnr']} | {q['lpips_alex']} | {q['lpips_vgg']} |")
    snrs = res["snrs_db"]
    for key, title in (("psnr", "PSNR (dB)"), ("lpips_alex", "LPIPS AlexNet"), ("lpips_vgg", "LPIPS VGG")):
        lines += ["", f"## {title} vs SNR", "",
                  "| link | k real | CBR real | CBR complex | " + " | ".join(f"{s:g} dB" for s in snrs)
                  + " | range | slope/dB |", "|---" * (6 + len(snrs)) + "|"]
        for name, v in res["links"].items():
            vals = " | ".join(f"{r[key]:.4g}" if r[key] is not None else "–" for r in v["rows"])
            fl = v["flatness"][key]
            lines.append(f"| {name} | {v['k_real'] if v['k_real'] is not None else 'bits'} | {v['cbr_real']:.3g} | {v['cbr_complex']:.3g} | {vals} | "
                         f"{fl['range']} | {fl['slope_per_db']} |")
    p = res.get("privacy")
    if p:
        lines += ["", f"## Privacy ({p['variant']}, {p['snr_db']:g} dB, {p['faces']} faces, chance re-id "
                  f"{p['chance_reid']})", "",
                  "| mode | private dims | (4′) met | private err | other identity err | err identity 20 | err eyes 3 | "
                  "attributes exact | "
                  "attributes MAE | re-id (private) | re-id (identity 20) | re-id (eyes 3) | re-id (all 25) | PSNR |",
                  "|---" * 14 + "|"]
        for mode, r in p["modes"].items():
            lines.append(f"| {mode} | {r['private_dims']} | {r['filter_satisfied']} | {r['private_err_vs_truth']} | "
                         f"{r['other_identity_err_vs_truth']} | {r.get('err_identity20_vs_truth', '–')} | "
                         f"{r.get('err_eyes_vs_truth', '–')} | {r['attributes_exact']} | {r['attributes_mae']} | "
                         f"{r['reid_private']} | {r.get('reid_identity20', '–')} | {r.get('reid_eyes', '–')} | "
                         f"{r['reid_all25']} | {r['psnr']} |")
    lines += ["", "## The paper's claims against these numbers", ""]
    lines += [f"- {c}: **{'yes' if v['holds'] else 'no'}** ({v['detail']})" for c, v in res["claims"].items()]
    return "\n".join(lines) + "\n"


def run_generative_eval(bundle, config: GenerativeEvalConfig | None = None, out_dir: str | Path | None = None,
                        cache_dir: str | Path | None = None, progress: bool = True,
                        command: str = "edsc eval generative") -> dict[str, Any]:
    """Runs the whole experiment (module docstring); writes the results when ``out_dir`` is given.

    Parameters
    ----------
    bundle : the :class:`shared.bundle.Bundle` with a ``generative`` component.
    config : :class:`GenerativeEvalConfig`.
    out_dir : where ``results.json`` / ``results.md`` / ``psnr_lpips.png`` go (None: not written).
    cache_dir : where the inversions are cached (None: not cached).
    progress : progress lines on stderr.
    command : the command line recorded in the results.

    Output
    ------
    The results dict (what ``results.json`` holds).
    """
    from edsc.link import estimate

    cfg = config or GenerativeEvalConfig()
    log = (lambda m: print(f"[generative eval] {m}", file=sys.stderr, flush=True)) if progress else (lambda m: None)
    t0 = time.perf_counter()
    bank = load_generative(bundle)
    images, truth_id, truth_deg = heldout_faces("generative", cfg.seed, cfg.faces, size=bundle.resolution)
    inv = _invert(bundle, images, cfg, Path(cache_dir) if cache_dir else None, log)
    latent = inv["latent"]
    res: dict[str, Any] = {"command": command, "config": asdict(cfg), "faces": cfg.faces, "snrs_db": list(cfg.snrs),
                           "bundle": f"{bundle.name}@{bundle.version}",
                           "machine": f"CPU, {torch.get_num_threads()} torch thread(s)",
                           "inversion": {"steps": cfg.inversion_steps, "seconds": round(float(inv["seconds"]), 1)}}
    G = bundle.generator
    ceilings = {"ground truth parameters (generator's own error)":
                    _render(G, latent_from_params(truth_id, truth_deg), cfg.batch),
                "encoder start (identity encoder + predictor)": _render(G, inv["start"], cfg.batch),
                f"head inversion ({cfg.inversion_steps} steps)": _render(G, latent, cfg.batch)}
    res["ceilings"] = {n: _quality(im, images) for n, im in ceilings.items()}
    if cfg.w_steps > 0:
        from shared.lpips import get_lpips
        from transmitter.generative import invert_w
        tw = time.perf_counter()
        ws = torch.cat([invert_w(G, images[i:i + cfg.batch], inv["start"][i:i + cfg.batch], get_lpips("alex"),
                                 cfg.w_steps) for i in range(0, cfg.faces, cfg.batch)])
        with torch.no_grad():
            imw = G.synthesis(ws, noise_mode="const")
        res["ceilings"][f"plain w inversion ({cfg.w_steps} steps, 512 values)"] = {
            **_quality(imw, images), "seconds": round(time.perf_counter() - tw, 1)}
    log(f"ceilings {res['ceilings']}")

    links: dict[str, Any] = {}
    ch_seed = stable_seed("generative-eval-ch", cfg.seed) % (2 ** 62)
    for name in sorted(bank.keys(), key=lambda n: (int(n.split("-")[0][1:]), "noflow" in n)):
        link = bank[name]
        rows = []
        for snr in cfg.snrs:
            with torch.no_grad():
                y, _ = estimate(link.encode(latent), {"model": "awgn", "snr_db": snr}, seed=ch_seed)
                received = _render(G, link.decode(y).clamp(-1, 1), cfg.batch)
            rows.append({"snr_db": snr, **_quality(received, images)})
            log(f"{name} {snr:g} dB {rows[-1]}")
        links[name] = {**cbr(link.k, bundle.resolution), "rows": rows}
    if "deepjscc" in cfg.baselines:
        from edsc.baselines.deepjscc import DeepJSCCLink, load_deepjscc
        model = load_deepjscc()
        links["deepjscc"] = _baseline(DeepJSCCLink(model), images, cfg, model.k, log)
    if "jpeg" in cfg.baselines:
        from edsc.baselines.jpeg_ldpc import JpegLdpcLink
        jl = JpegLdpcLink(bpp=0.7)
        links["jpeg_ldpc"] = _baseline(jl, images, cfg, None, log)
    for v in links.values():
        v["flatness"] = {key: _spread(v["rows"], key) for key in ("psnr", "lpips_alex", "lpips_vgg")}
    res["links"] = links
    res["privacy"] = _privacy(bundle, bank, images, truth_id, truth_deg, latent, cfg, log)
    res["claims"] = _claims(res)
    res["seconds"] = round(time.perf_counter() - t0, 1)
    if out_dir is not None:
        write_outputs(res, out_dir)
    return res


def write_outputs(res: dict[str, Any], out_dir: str | Path) -> None:
    """``results.json``, ``results.md`` and ``psnr_lpips.png`` of a results dict (claims recomputed from its
    numbers)."""
    res["claims"] = _claims(res)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "results.json", res)
    (out / "results.md").write_text(_markdown(res), encoding="utf-8")
    _figure(res, out / "psnr_lpips.png")


def _baseline(link, images, cfg: GenerativeEvalConfig, k_real: int | None, log) -> dict[str, Any]:
    """PSNR / LPIPS (alex, vgg) per SNR of a baseline :class:`~edsc.baselines.common.ImageLink` (AWGN)."""
    t = time.perf_counter()
    seed = stable_seed("generative-eval-baseline", cfg.seed) % (2 ** 62)
    rows, c = [], None
    for snr in cfg.snrs:
        got = []
        for j, i in enumerate(range(0, images.shape[0], 16)):
            r = link.transmit(images[i:i + 16], float(snr), channel=None, seed=seed + j)
            got.append(r.images)
            c = r.cbr
        rows.append({"snr_db": snr, **_quality(torch.cat(got), images)})
        log(f"{link.name} {rows[-1]}")
    return {"k_real": k_real, "cbr_real": c, "cbr_complex": c / 2, "rows": rows,
            "seconds": round(time.perf_counter() - t, 1)}
