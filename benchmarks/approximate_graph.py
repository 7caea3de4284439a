"""The neighbour graph past one machine's exact search: FAISS's inverted-file search on a large
pool of codes, its recall against the exact search, and label propagation on it; then, on real
codes (a pretrained run's MNIST codes), label propagation with the approximate graph against the
exact one.

The large pool is generated: ``--codes`` 64-d codes from ``--classes`` x 20 clusters on a 16-d
manifold (a random linear map of a Gaussian mixture, plus noise), the structure real codes have.

    python benchmarks/approximate_graph.py --codes 1000000 --sample 50000 \
        --mnist-run RUNS/mnist --data-root DATA --out benchmarks/issue21/approximate_graph.json
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from ssl_ae.checkpoints import load_encoder
from ssl_ae.data.sources import load_source
from ssl_ae.data.splits import labeled_subset
from ssl_ae.evaluation import probes
from ssl_ae.graph import Graph, nearest


def generated_codes(n: int, classes: int, seed: int = 0) -> tuple[torch.Tensor, np.ndarray]:
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes * 20, 16, generator=g) * 2
    cluster = torch.randint(len(centres), (n,), generator=g)
    latent = centres[cluster] + torch.randn(n, 16, generator=g)
    codes = latent @ torch.randn(16, 64, generator=g) + 0.3 * torch.randn(n, 64, generator=g)
    return codes, (cluster % classes).numpy()


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, round(time.perf_counter() - start, 1)


def large_pool(n: int, sample: int, classes: int) -> dict:
    codes, labels = generated_codes(n, classes)
    (index, sims), search_s = timed(nearest, codes, codes, 10, exclude_self=True, approximate=True)
    graph, assemble_s = timed(Graph.from_edges, codes, index, sims, 10)
    rows = np.random.default_rng(0).choice(n, sample, replace=False)
    (exact, _), exact_s = timed(nearest, codes[rows], codes, 11, approximate=False)
    hits = [len(set(a.tolist()) & (set(b.tolist()) - {r}))
            for a, b, r in zip(index[rows], exact, rows)]
    lab = labeled_subset(labels, np.arange(n), 10, seed=0)
    spread, propagate_s = timed(graph.propagate, lab, torch.from_numpy(labels[lab]), classes)
    return {"codes": n, "dims": 64, "neighbours": 10, "search_s": search_s,
            "graph_s": round(search_s + assemble_s, 1), "recall_at_10": round(np.sum(hits) / (10 * sample), 4),
            "recall_sample": sample, "exact_search_of_sample_s": exact_s,
            "propagation_s": propagate_s, "propagated_rows": len(spread)}


def mnist(run: str, root: str, seeds: list[int], k: int) -> dict:
    """Label propagation from k labels per class (non-test pool), test accuracy, exact vs
    approximate graph."""
    source = load_source("mnist", root)
    codes = probes.encode(load_encoder(run), source.images)
    pool = np.setdiff1d(np.arange(len(codes)), source.test)
    y = torch.from_numpy(source.targets)
    out = {}
    for approximate in (False, True):
        graph, build_s = timed(Graph.build, codes[pool], 10, approximate=approximate)
        accs = []
        for seed in seeds:
            lab = labeled_subset(source.targets, pool, k, seed)
            spread = graph.propagate(np.searchsorted(pool, lab), y[lab], 10)
            test = graph.extend(spread, codes[source.test])
            accs.append(float((test.argmax(1) == source.targets[source.test]).mean()))
        out["approximate" if approximate else "exact"] = {
            "graph_s": build_s, "accuracy": round(float(np.mean(accs)), 4), "per_seed": accs}
    out["difference_points"] = round(100 * (out["approximate"]["accuracy"]
                                            - out["exact"]["accuracy"]), 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--codes", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=50_000, help="codes whose recall is measured")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--mnist-run", help="a pretraining run on MNIST (skipped if not given)")
    parser.add_argument("--data-root", default="data")
    parser.add_argument("--k", type=int, default=10, help="MNIST labels per class")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.manual_seed(0)
    result = {"threads": torch.get_num_threads(),
              "large_pool": large_pool(args.codes, args.sample, args.classes)}
    print(json.dumps(result["large_pool"]), flush=True)
    if args.mnist_run:
        result["mnist"] = mnist(args.mnist_run, args.data_root, args.seeds, args.k)
        print(json.dumps(result["mnist"]), flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
