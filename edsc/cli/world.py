"""`edsc world sheet|artwork|sample`: look at and sample the SynthFace world (the procedural, labelled face world)
and its artwork domain."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from shared.errors import InvalidArgumentError


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("world", help="the SynthFace world: contact sheets and labelled samples")
    group = parser.add_subparsers(dest="world_command", metavar="ACTION")
    group.required = True

    sheet = group.add_parser("sheet", help="contact sheet: every attribute at degrees 0..5 for a few identities")
    _sheet_options(sheet, identities=3, what="identities", seed_of="the identity draw")
    sheet.add_argument("--base", type=str, default=None,
                       help="degrees of the attributes a row does not vary, e.g. 0,0,0,0,2 (default all 0)")
    sheet.set_defaults(func=_sheet)

    art = group.add_parser("artwork", help="contact sheet of the artwork domain (painted SynthFace faces)")
    _sheet_options(art, identities=4, what="faces", seed_of="the faces and the styles")
    art.add_argument("--styles", type=int, default=5, help="painting styles per face (default 5)")
    art.set_defaults(func=_artwork)

    sample = group.add_parser("sample", help="render random faces as PNGs plus a JSON of their labels")
    sample.add_argument("--n", type=int, required=True, help="number of faces")
    sample.add_argument("--out", type=Path, required=True, help="output directory (created if missing)")
    sample.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    sample.add_argument("--size", type=int, default=128, help="face size in pixels (default 128)")
    sample.add_argument("--fractional", action="store_true", help="draw degrees uniformly in [0, 5], not integers")
    sample.set_defaults(func=_sample)


def _sheet_options(parser: argparse.ArgumentParser, identities: int, what: str, seed_of: str) -> None:
    """The options every contact sheet takes: --out, --identities, --seed, --size."""
    parser.add_argument("--out", type=Path, required=True, help="PNG file to write")
    parser.add_argument("--identities", type=int, default=identities, help=f"number of {what} (default {identities})")
    parser.add_argument("--seed", type=int, default=0, help=f"seed of {seed_of} (default 0)")
    parser.add_argument("--size", type=int, default=128, help="face size in pixels (default 128)")


def _sheet_out(args: argparse.Namespace, max_identities: int) -> Path:
    """Checks a contact sheet's --identities, --size and --out; the PNG path to write."""
    if not 1 <= args.identities <= max_identities:
        raise InvalidArgumentError(f"--identities {args.identities} is outside [1, {max_identities}]")
    _check_size(args.size)
    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise InvalidArgumentError(f"--out {out} must name a .png file")
    if not out.parent.exists():
        raise InvalidArgumentError(f"directory {out.parent} does not exist")
    return out


def _check_size(size: int) -> None:
    if size < 16 or size > 1024:
        raise InvalidArgumentError(f"--size {size} is outside [16, 1024]")


def _parse_base(text: str | None) -> list[float] | None:
    from edsc.world.synthface import ATTRIBUTES, NUM_DEGREES

    if text is None:
        return None
    try:
        vals = [float(v) for v in text.split(",")]
    except ValueError:
        raise InvalidArgumentError(f"--base {text!r} is not a comma-separated list of numbers") from None
    if len(vals) != len(ATTRIBUTES) or not all(0 <= v <= NUM_DEGREES - 1 for v in vals):
        raise InvalidArgumentError(
            f"--base needs {len(ATTRIBUTES)} degrees in [0, {NUM_DEGREES - 1}] ({','.join(ATTRIBUTES)}), got {text!r}")
    return vals


def _sheet(args: argparse.Namespace) -> int:
    from edsc.world.sheet import contact_sheet
    from edsc.world.synthface import sample_identity

    out = _sheet_out(args, max_identities=32)
    base = _parse_base(args.base)
    import torch

    gen = torch.Generator().manual_seed(args.seed)
    img = contact_sheet(sample_identity(args.identities, gen), size=args.size, base_degrees=base)
    img.save(out)
    print(out)
    return 0


def _artwork(args: argparse.Namespace) -> int:
    from edsc.world.artwork import artwork_sheet
    from edsc.world.synthface import sample_degrees, sample_identity

    out = _sheet_out(args, max_identities=16)
    if not 1 <= args.styles <= 12:
        raise InvalidArgumentError(f"--styles {args.styles} is outside [1, 12]")
    import torch

    gen = torch.Generator().manual_seed(args.seed)
    ident = sample_identity(args.identities, gen)
    deg = sample_degrees(args.identities, gen)
    artwork_sheet(ident, deg, size=args.size, styles=args.styles, seed=args.seed).save(out)
    print(out)
    return 0


def _sample(args: argparse.Namespace) -> int:
    from edsc.world.sheet import to_pil
    from edsc.world.synthface import ATTRIBUTES, IDENTITY_DIMS, SynthFace, sample_degrees, sample_identity

    if not 1 <= args.n <= 1_000_000:
        raise InvalidArgumentError(f"--n {args.n} is outside [1, 1000000]")
    _check_size(args.size)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InvalidArgumentError(f"--out {out} exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    import torch

    gen = torch.Generator().manual_seed(args.seed)
    ident = sample_identity(args.n, gen)
    deg = sample_degrees(args.n, gen, fractional=args.fractional)
    world = SynthFace(size=args.size)
    width = max(5, len(str(args.n - 1)))
    records = []
    for start in range(0, args.n, world.chunk):
        imgs = world.render(ident[start : start + world.chunk], deg[start : start + world.chunk])
        for k, im in enumerate(to_pil(imgs)):
            i = start + k
            name = f"{i:0{width}d}.png"
            im.save(out / name)
            records.append({
                "file": name,
                "degrees": dict(zip(ATTRIBUTES, [round(float(v), 6) for v in deg[i]])),
                "identity": [round(float(v), 6) for v in ident[i]],
            })
    meta = {
        "seed": args.seed,
        "size": args.size,
        "fractional": bool(args.fractional),
        "attributes": list(ATTRIBUTES),
        "identity_dims": list(IDENTITY_DIMS),
        "identity_space": "each dimension uniform in [-1, 1]; see edsc.world.synthface.IDENTITY_PRIOR",
        "faces": records,
    }
    (out / "labels.json").write_text(json.dumps(meta, indent=1))
    print(f"{args.n} faces written to {out} (labels in {out / 'labels.json'})")
    return 0
