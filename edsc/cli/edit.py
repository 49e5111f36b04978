"""`edsc edit IMAGE "INSTRUCTION"`: the whole Editable-DeepSC chain in one process.

inversion → JECC → A_CE → power normalisation → channel (AWGN by default) → equalisation → A_CD → G.
Writes the received edited image as PNG and prints a summary (``--json`` for machine-readable output).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edsc.cli.common import add_bundle_args, open_bundle


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("edit", help="edit a face image by instruction and send it over an emulated channel")
    parser.add_argument("image", help="input image (PNG/JPEG)")
    parser.add_argument("instruction", help='e.g. "make the bangs a bit longer"')
    parser.add_argument("--snr", type=float, default=18.0, help="channel SNR Es/N0 in dB, in [-30, 40] (default 18)")
    parser.add_argument("--channel", default="awgn", help="channel model (awgn, rayleigh, rician, ...; default awgn)")
    parser.add_argument("--seed", type=int, default=0, help="channel realisation seed (default 0)")
    parser.add_argument("--steps", type=int, default=110, help="inversion iterations r_inv (default 110)")
    parser.add_argument("--init", default="auto",
                        help="where the inversion starts: auto (default; encoder when the bundle allows it), mean "
                             "(the mean latent) or encoder (the identity encoder and predictor's reading of the "
                             "face through the bundle's latent layout)")
    parser.add_argument("--max-edit-steps", type=int, default=100, help="JECC step budget r_edit (default 100)")
    parser.add_argument("--channel-draws", type=int, default=0,
                        help="JECC scores its target-stage candidates on this many simulated AWGN receptions at "
                             "--snr (0: on G(w) itself, the paper's rule; default 0)")
    parser.add_argument("--out", type=Path, default=Path("edited.png"), help="output PNG (default edited.png)")
    parser.add_argument("--save-noiseless", type=Path, default=None,
                        help="also write the edit rendered without a channel (the receiver's ideal)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    add_bundle_args(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm

    from channel_emulator.config import ChannelConfig
    from edsc.link import edit_and_deliver
    from receiver.decoder import ReceiverPipeline
    from shared.channel.limits import check_snr_db
    from shared.image_io import load_image_tensor, save_png
    from shared.lpips import get_lpips
    from transmitter.inversion import InversionConfig
    from transmitter.jecc import JECCConfig
    from transmitter.pipeline import TransmitterPipeline, channel_bandwidth_ratio

    snr = check_snr_db(args.snr)
    channel = ChannelConfig(model=args.channel, snr_db=snr)
    inversion = InversionConfig(steps=args.steps, init=args.init)      # refuses a bad --steps / --init
    jecc = JECCConfig(max_steps=args.max_edit_steps, channel_draws=args.channel_draws)
    bundle = open_bundle(args)
    image = load_image_tensor(args.image, bundle.resolution)
    tx = TransmitterPipeline(bundle, inversion, jecc)
    rx = ReceiverPipeline(bundle)
    edit = tx.parse([args.instruction])[0]      # refuse a bad instruction before any compute

    bars: dict[str, tqdm] = {}

    def progress(stage: str, step: int, total: int) -> None:
        if args.quiet:
            return
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = tqdm(total=total, desc=stage, file=sys.stderr, leave=False, unit="it")
        bar.update(step - bar.n)

    sent = edit_and_deliver(tx, rx, [edit], channel, seed=args.seed, images=image, progress=progress)
    for bar in bars.values():
        bar.close()
    out, link, images = sent.outputs[0], sent.delivery.channel, sent.images
    t_tx, t_ch = sent.timings["transmitter_s"], sent.timings["channel_s"]
    rx_timings = {k: sent.delivery.timings[k] for k in ("adapter_s", "generator_s")}
    save_png(images[0], args.out)
    reference = rx.render(out.w_edited.reshape(1, -1))
    if args.save_noiseless:
        save_png(reference[0], args.save_noiseless)
    with torch.no_grad():
        lpips_vs_noiseless = float(get_lpips("alex", bundle.device)(images, reference)[0])

    summary = {
        "image": str(args.image),
        "instruction": args.instruction,
        "edit": edit.to_dict(),
        "status": out.outcome.status,
        "attribute": out.outcome.attribute,
        "degrees_before": dict(zip(bundle.attributes, out.outcome.degrees_before)),
        "degrees_after": dict(zip(bundle.attributes, out.outcome.degrees_after)),
        "expected_degree": out.outcome.expected_degree,
        "edit_iterations": out.outcome.iterations,
        "inversion_lpips": out.inversion_lpips,
        "inversion_start": tx.init_mode,
        "snr_db": snr,
        "channel": channel.model,
        "k": out.k,
        "channel_uses": int(link.received.shape[-1]),
        "cbr": channel_bandwidth_ratio(out.k, bundle.resolution),
        "cbr_convention": "k real values / (H*W*C); complex channel uses = k/2 (+ pilots)",
        "lpips_vs_noiseless": lpips_vs_noiseless,
        "channel_report": {k: v for k, v in link.report.items() if isinstance(v, (int, float, str, bool))},
        "timings_s": {**out.timings, "transmitter_total_s": t_tx, "channel_s": t_ch, **rx_timings},
        "bundle": bundle.version,
        "device": str(bundle.device),
        "output": str(args.out),
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        before, after = out.outcome.degrees_before, out.outcome.degrees_after
        i = bundle.attributes.index(out.outcome.attribute)
        print(f"edit        {edit.to_dict()}")
        print(f"JECC        {out.outcome.status}: {out.outcome.attribute} {before[i]} -> {after[i]} "
              f"(expected {out.outcome.expected_degree}) in {out.outcome.iterations} steps")
        print(f"channel     {channel.model} at {snr:g} dB, k = {out.k} reals ({summary['channel_uses']} channel uses), "
              f"CBR {summary['cbr']:.4f}")
        print(f"quality     inversion LPIPS {out.inversion_lpips:.4f} (start: {tx.init_mode}), "
              f"received vs noiseless LPIPS {lpips_vs_noiseless:.4f}")
        print(f"time        transmitter {t_tx:.2f} s, channel {t_ch * 1e3:.1f} ms, receiver "
              f"{sum(rx_timings.values()) * 1e3:.1f} ms on {bundle.device}")
        print(f"wrote       {args.out}")
    return 0
