"""How long `ssl-ae select` takes to choose from a large pool: each method on N random codes.

    python benchmarks/select_speed.py --images 100000 --dims 64 --budget 100

The codes are Gaussian, so only the time means anything; the pool's encoding is not included
(it is one pass of the encoder, as in `ssl-ae embed`).
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from ssl_ae.evaluation.selection import METHODS, select


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--dims", type=int, default=64)
    parser.add_argument("--budget", type=int, default=100)
    args = parser.parse_args()
    codes = np.random.default_rng(0).normal(size=(args.images, args.dims)).astype(np.float32)
    print(f"{args.images:,} codes of {args.dims} dimensions, budget {args.budget}, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}")
    print("| method | seconds |\n| --- | --- |")
    for method in METHODS:
        start = time.perf_counter()
        select(codes, args.budget, method, seed=0)
        print(f"| {method} | {time.perf_counter() - start:.1f} |", flush=True)


if __name__ == "__main__":
    main()
