"""`edsc lpips A.png B.png`: the LPIPS distance (official v0.1 weights) between two images."""

from __future__ import annotations

import argparse
import json



def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("lpips", help="LPIPS distance between two images")
    parser.add_argument("image_a")
    parser.add_argument("image_b")
    parser.add_argument("--net", choices=["alex", "vgg"], default="alex", help="backbone (default alex)")
    parser.add_argument("--size", type=int, default=None,
                        help="centre-crop and resize both images to SIZE first (default: compare as they are)")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from shared.errors import InvalidArgumentError
    from shared.image_io import pil_to_tensor, read_image_file
    from shared.lpips import get_lpips

    a_img, b_img = read_image_file(args.image_a), read_image_file(args.image_b)
    if args.size is None and a_img.size != b_img.size:
        raise InvalidArgumentError(
            f"images differ in size ({a_img.size[0]}x{a_img.size[1]} vs {b_img.size[0]}x{b_img.size[1]}); "
            "pass --size N to resize both"
        )
    a, b = pil_to_tensor(a_img, args.size), pil_to_tensor(b_img, args.size)
    with torch.no_grad():
        value = float(get_lpips(args.net)(a, b)[0])
    if args.json:
        print(json.dumps({"lpips": value, "net": args.net}))
    else:
        print(f"{value:.5f}")
    return 0
