"""Retune the adapter bank of an existing bundle with the recipe's adapters stage (stage f), in place.

``make bundle`` retrains every stage from scratch. When only the link codec changed (the LMMSE front end of A_CD,
``shared.models.latent_prior``), this runs stage (f) alone on the bundle's own generator and encoder start: the
same fine-tuning / evaluation / validation faces (their streams), the same inversions (r_inv 110, batches of 13),
the same :func:`edsc.train.recipe.adapter_train_config`; then it rewrites ``adapters.safetensors`` and the manifest
(the adapters' config and sha256, the version, the adapters' provenance). Every other file stays byte-identical.

    python -m edsc.train.retune --bundle bundles/synthface-128 --runs runs/retune --version 20261202.1
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from edsc.train import recipe
from shared.atomic_io import save_safetensors_atomic, write_text_atomic
from shared.bundle import MANIFEST, Bundle, sha256_file
from shared.errors import EditDSCError


def retune_adapters(bundle_dir: str | Path, run_dir: str | Path, version: str, preset: str = "cpu",
                    device: str = "cpu", note: str | None = None) -> dict:
    """Stage (f) on the bundle at ``bundle_dir`` (checkpoints and inversions under ``run_dir``); returns its
    metrics. Resumable: the inversions are cached in ``run_dir`` and training resumes from its checkpoints."""
    from transmitter.inversion_init import encoder_start, start_fingerprint

    bundle_dir, run_dir = Path(bundle_dir), Path(run_dir)
    bundle = Bundle(bundle_dir, device=device)
    generator = bundle.generator
    start = encoder_start(bundle)
    cfg = recipe.adapter_train_config(preset)
    run_dir.mkdir(parents=True, exist_ok=True)
    key = f"{bundle.weights_sha256('generator')}|{start_fingerprint(bundle, 'encoder')}"

    def items(n: int, stream: str, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        path = run_dir / name
        if path.is_file():
            saved = torch.load(path, map_location=device)
            if saved.get("key") == key and saved["latents"].shape[0] == n:
                return saved["latents"], saved["images"]
        w, images = recipe.adapter_items(generator, start, n, device, stream)
        torch.save({"latents": w.cpu(), "images": images.cpu(), "key": key}, path)
        return w, images

    t0 = time.perf_counter()
    data = items(cfg.n_ft + cfg.n_eval, "train/adapters/faces", "inverted.pt")
    val = items(cfg.n_val, "train/adapters/val-faces", "inverted-val.pt")
    inversion_s = time.perf_counter() - t0
    # the bundle's normaliser (fitted to the float32 generator before it was stored in float16)
    codec = recipe.initial_codec(generator, prior=recipe.ADAPTER_PRIOR, normalizer=bundle.adapters.normalizer)
    counted = {"predictor": bundle.predictor, "fields": bundle.load("fields")}
    codec, metrics = recipe.tune_adapters(generator, codec, data, val, cfg, run_dir / "train", counted)
    metrics = {"complete": True, **metrics, "inversion_seconds": round(inversion_s, 1)}

    state = recipe._half({k: v.detach().cpu().contiguous() for k, v in codec.state_dict().items()})
    adapters_file = bundle_dir / bundle.manifest.components["adapters"].file
    save_safetensors_atomic(state, adapters_file)
    manifest_path = bundle_dir / MANIFEST
    manifest = json.loads(manifest_path.read_text())
    manifest["components"]["adapters"]["config"] = codec.cfg.to_dict()
    manifest["files"][adapters_file.name] = sha256_file(adapters_file)
    manifest["version"] = version
    stages = manifest.setdefault("provenance", {}).setdefault("stages", {})
    stages["adapters"] = {k: v for k, v in metrics.items() if isinstance(v, (int, float, str, bool)) or v is None}
    if note:
        manifest["provenance"]["adapters_note"] = note
    write_text_atomic(manifest_path, json.dumps(manifest, indent=2) + "\n")
    return metrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", default="bundles/synthface-128")
    parser.add_argument("--runs", default="runs/retune-adapters", help="checkpoints and cached inversions")
    parser.add_argument("--version", required=True, help="the bundle's new version string")
    parser.add_argument("--preset", default="cpu", choices=recipe.PRESETS)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--note", default=None, help="provenance note on the retuned adapters")
    args = parser.parse_args(argv)
    try:
        metrics = retune_adapters(args.bundle, args.runs, args.version, args.preset, args.device, args.note)
    except EditDSCError as exc:
        print(f"retune: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({k: v for k, v in metrics.items() if not isinstance(v, (dict, list))}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
