"""CPU latency of the small-CNN attribute predictor on a batch of 128×128 faces.

Prints the mean and the best milliseconds per forward pass over ``--repeats`` passes after one warm-up pass.

    python benchmarks/bench_predictor.py [--batch 8] [--repeats 3] [--threads 0]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.getcwd())

from shared.models.predictor import SmallCNNPredictor  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model = SmallCNNPredictor().eval()
    x = torch.rand(args.batch, 3, 128, 128) * 2 - 1                      # (B, 3, 128, 128) in [-1, 1]
    times = []
    with torch.no_grad():
        model(x)
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - t0)
    print(f"small_cnn batch={args.batch} threads={torch.get_num_threads()} "
          f"mean_ms={1000 * statistics.mean(times):.1f} best_ms={1000 * min(times):.1f}")


if __name__ == "__main__":
    main()
