"""Two ideas for choosing images to label that did not beat k-means (RESULTS.md, issue 19),
scored by the development metric: a seeded tenth of the non-test images is held out and scored
by logistic regression on the codes of the chosen images; the test split is never read.

- ``kmeans``, ``random``: as in ``ssl-ae select``;
- ``typiclust``: k-means with one cluster per image, then the most typical image of each cluster
  (the smallest mean distance to its 20 nearest neighbours in the cluster; Hacohen et al. 2022);
- ``kmeans F + margin``: a fraction F of the budget by k-means, labeled, then logistic regression
  on those and the rest of the budget on the images it is least sure of (smallest gap between
  its two likeliest classes): a second round of active learning;
- ``kmeans F + cluster margin``: the same, the second round spread by k-means over the 10 times
  as many least sure images.

    python benchmarks/selection_rounds.py RUN_DIR --config configs/cifar10/pretrain.yaml \\
        --data.root DATA --budget 250 [--seeds 0 1 2] [--first 0.5]
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from ssl_ae.data import SemiSupervisedDataModule
from ssl_ae.evaluation import probes
from ssl_ae.evaluation.selection import kmeans_centres, nearest_centres, select
from ssl_ae.evaluation.sweep import build_cache

from common import print_scores, read_config
from dev_score import hold_out


def typiclust(codes: np.ndarray, budget: int, seed: int, neighbours: int = 20) -> np.ndarray:
    x = torch.from_numpy(codes)
    assign = torch.cdist(x, kmeans_centres(x, budget, seed)).argmin(1).numpy()
    chosen = []
    for members in (np.flatnonzero(assign == c) for c in range(budget)):
        if len(members) < 3:
            chosen += list(members[:1])
            continue
        near = torch.cdist(x[members], x[members]).topk(min(neighbours, len(members) - 1) + 1,
                                                       largest=False).values[:, 1:]
        chosen.append(members[int(near.mean(1).argmin())])
    return np.asarray(chosen)


def second_round(codes: np.ndarray, y: np.ndarray, first: np.ndarray, extra: int, spread: bool,
                 seed: int) -> np.ndarray:
    """``first`` and ``extra`` more images the classifier trained on ``first`` is least sure of."""
    probs = np.sort(probes.logistic_regression(codes[first], y[first], codes, int(y.max()) + 1), 1)
    margin = probs[:, -1] - probs[:, -2]
    margin[first] = np.inf
    unsure = np.argsort(margin)[:extra * (10 if spread else 1)]
    if spread:
        x = torch.from_numpy(codes[unsure])
        unsure = unsure[nearest_centres(x, extra, seed)]
    return np.concatenate([first, unsure])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", help="a pretraining run")
    parser.add_argument("--config", required=True, help="the pretrain config (its data section)")
    parser.add_argument("--data.root", dest="data_root", help="folder holding the dataset")
    parser.add_argument("--budget", type=int, default=250, help="images to label in all")
    parser.add_argument("--first", type=float, default=0.5, help="share of the first round")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    cache = build_cache(SemiSupervisedDataModule(**read_config(args.config, args.data_root)["data"]),
                        args.run_dir)
    held, pool = hold_out(cache.pool, 0.1)
    codes = probes.standardize(cache.codes, stats_from=cache.codes[pool])[0].astype(np.float32)
    x, y = codes[pool], cache.targets.numpy()

    def accuracy(chosen: np.ndarray) -> float:
        probs = probes.logistic_regression(x[chosen], y[pool][chosen], codes[held], int(y.max()) + 1)
        return float((probs.argmax(1) == y[held]).mean())

    scores: dict[str, list[float]] = {}
    first_size = round(args.first * args.budget)
    for seed in args.seeds:
        first = select(x, first_size, "kmeans", seed)
        picks = {"random": select(x, args.budget, "random", seed),
                 "kmeans": select(x, args.budget, "kmeans", seed),
                 "typiclust": typiclust(x, args.budget, seed),
                 f"kmeans {args.first} + margin": second_round(
                     x, y[pool], first, args.budget - first_size, False, seed),
                 f"kmeans {args.first} + cluster margin": second_round(
                     x, y[pool], first, args.budget - first_size, True, seed)}
        for name, chosen in picks.items():
            scores.setdefault(name, []).append(accuracy(chosen))
    print_scores(scores, run=args.run_dir, budget=args.budget, held_out=len(held),
                 seeds=args.seeds)


if __name__ == "__main__":
    main()
