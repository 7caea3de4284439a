"""Score a pretrained encoder without touching the test split: the development metric of the
MNIST search in RESULTS.md.

For each seed, k labeled images per class are drawn from the non-test images exactly as
``ssl-ae evaluate`` draws them; the other non-test images are scored (their labels are used
only to score). Rows: logistic regression and the linear head on the labeled codes, label
propagation over the non-test images' neighbour graph, and the linear head on the spectral
features of that graph (the scored images are in the graph, so they get their eigenvector values
rather than the Nyström extension a test image gets). Choosing settings by this number leaves
the test split untouched for the final ``ssl-ae evaluate``.

With ``--held-out F`` the scored images are instead a seeded fraction F of the non-test images
kept out of everything, as the test split is: the graph, the eigenmap, the standardisation and
the PCA are fitted to the other non-test images, the labeled images are drawn from those, and
every row of ``ssl-ae evaluate`` is scored on the held-out images by the sweep's own code. A
method that learns from the unlabeled images (the graph rows) is then scored on images it never
saw, as on the test split.

    python benchmarks/dev_score.py RUN_DIR --config configs/mnist/pretrain.yaml \
        --data.root DATA [--k 10] [--seeds 0 1 2] [--neighbours 10] [--alpha 0.99] \
        [--spectral-dims 10] [--held-out 0.1]
"""
from __future__ import annotations

import argparse
from typing import Callable

import numpy as np
import torch

from ssl_ae.evaluation import probes
from ssl_ae.data import SemiSupervisedDataModule
from ssl_ae.data.splits import Split
from ssl_ae.evaluation.sweep import Cache, SweepSpec, build_cache, cache_codes, methods

from common import print_scores, read_config


def draw(cache: Cache, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The labeled images of one draw and the other non-test images, which are scored."""
    lab = np.asarray(Split.make(cache.targets.numpy(), k, seed, test=cache.test).labeled)
    return lab, np.setdiff1d(cache.pool, lab)


def score_split(cache: Cache, lab: np.ndarray, held: np.ndarray, spec: SweepSpec) -> dict:
    y, truth = cache.targets[lab], cache.targets[held].numpy()
    num_classes = len(cache.classes)
    train, rest = cache.codes[lab], cache.codes[held]
    linear, spectral = (probes.head_on_features("linear", torch.from_numpy(f[lab]).float(), y,
                                                torch.from_numpy(f[held]).float(), num_classes,
                                                spec.head_steps, spec.head_lr)
                        for f in (cache.codes, cache.spectral))
    spread = cache.graph.propagate(np.searchsorted(cache.pool, lab), y, num_classes,
                                   spec.propagation_alpha)[np.searchsorted(cache.pool, held)]
    probs = {"logistic regression": probes.logistic_regression(train, y.numpy(), rest),
             "linear head": linear, "label propagation": np.asarray(spread),
             "spectral features + linear head": spectral}
    return {name: float((p.argmax(1) == truth).mean()) for name, p in probs.items()}


def hold_out(pool: np.ndarray, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """A seeded ``fraction`` of the non-test images ``pool``, to be scored, and the rest."""
    held = np.sort(np.random.default_rng(0).choice(pool, round(fraction * len(pool)),
                                                    replace=False))
    return held, np.setdiff1d(pool, held)


def held_out(cache: Cache, fraction: float, spec: SweepSpec) -> tuple[Cache, np.ndarray]:
    """A cache whose test images are a seeded ``fraction`` of the non-test images and whose
    pool is the rest, and every image a labeled draw must avoid (both test splits)."""
    held, rest = hold_out(cache.pool, fraction)
    dev = cache_codes(cache.images, cache.targets.numpy(), cache.codes, held, rest,
                      cache.classes, cache.encoder_spec, cache.pretrained, spec)
    return dev, np.union1d(cache.test, held)


def score_held_out(cache: Cache, avoid: np.ndarray, k: int, seed: int, spec: SweepSpec) -> dict:
    """Every sweep row's accuracy on the held-out images, for one labeled draw."""
    split = Split.make(cache.targets.numpy(), k, seed, test=avoid, class_names=cache.classes)
    truth = cache.targets[cache.test].numpy()
    return {method: float((probs.argmax(1) == truth).mean())
            for method, _, probs in methods(cache, split, spec)}


def parser(doc: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("run_dir", help="a pretraining run (or its checkpoint)")
    parser.add_argument("--config", required=True, help="the pretrain config (its data section)")
    parser.add_argument("--data.root", dest="data_root", help="folder holding the dataset")
    parser.add_argument("--k", type=int, default=10, help="labels per class")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--neighbours", type=int, default=SweepSpec.propagation_neighbours,
                        help="edges per image of the label-propagation graph")
    parser.add_argument("--alpha", type=float, default=SweepSpec.propagation_alpha,
                        help="how far labels spread along it")
    parser.add_argument("--spectral-dims", type=int,
                        help="eigenvectors the spectral features keep (default: one per class)")
    return parser


def run(args: argparse.Namespace,
        score: Callable[[Cache, np.ndarray, np.ndarray, SweepSpec], dict]) -> None:
    """Score every seed's draw with ``score`` and print the mean ± std of each row as JSON."""
    spec = SweepSpec(propagation_neighbours=args.neighbours, propagation_alpha=args.alpha,
                     spectral_dims=args.spectral_dims)
    data = SemiSupervisedDataModule(**read_config(args.config, args.data_root)["data"])
    cache = build_cache(data, args.run_dir, spec)
    if getattr(args, "held_out", None):
        if not 0 < args.held_out < 1:
            raise SystemExit(f"--held-out must be in (0, 1), got {args.held_out}")
        dev, avoid = held_out(cache, args.held_out, spec)
        scores = [score_held_out(dev, avoid, args.k, seed, spec) for seed in args.seeds]
    else:
        scores = [score(cache, *draw(cache, args.k, seed), spec) for seed in args.seeds]
    print_scores({name: [s[name] for s in scores] for name in scores[0]},
                 run=args.run_dir, k=args.k, seeds=args.seeds)


if __name__ == "__main__":
    arguments = parser(__doc__)
    arguments.add_argument("--held-out", type=float,
                           help="score every sweep row on this fraction of the non-test images, "
                                "kept out of the graph and of the labeled draw")
    run(arguments.parse_args(), score_split)
