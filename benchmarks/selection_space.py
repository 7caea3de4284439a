"""In which space ``ssl-ae select``'s k-means should cluster the codes, on the held-out
development metric of ``dev_score.py`` (test split untouched).

A seeded tenth of the non-test images is held out of everything, as the test split is; the
images to label are chosen among the rest, from their codes alone, by k-means (one cluster per
image, the image nearest each centre) in each space below, or by a uniform draw. The chosen
images' labels then train the sweep's two best frozen rows on these data, the linear head on the
smoothed codes and label propagation, which score the held-out images.

Spaces: the standardised codes' directions (unit length, as the neighbour graph's cosine
similarity sees them) standardised again (``kmeans`` now) or not, the standardised codes
(``kmeans`` until 2026-12-02), and the codes smoothed 1, 2 or 4 steps along the neighbour graph
(``Graph.smooth``), standardised.

    python benchmarks/selection_space.py RUN_DIR --config configs/cifar10/pretrain.yaml \\
        --data.root DATA --budgets 40 250 [--seeds 0 1 2 3 4]
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import torch
import torch.nn.functional as F

from ssl_ae.data import SemiSupervisedDataModule
from ssl_ae.evaluation import probes
from ssl_ae.evaluation.selection import nearest_centres, select
from ssl_ae.evaluation.sweep import SweepSpec, build_cache
from ssl_ae.modules.classifier import few_label_smoothing

from common import mean_std, read_config
from dev_score import held_out


def unit(x: np.ndarray) -> np.ndarray:
    return F.normalize(torch.from_numpy(np.asarray(x, np.float32)), dim=1).numpy()


def standardised(x: np.ndarray) -> np.ndarray:
    return probes.standardize(np.asarray(x, np.float32), stats_from=x)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", help="a pretraining run")
    parser.add_argument("--config", required=True, help="the pretrain config (its data section)")
    parser.add_argument("--data.root", dest="data_root", help="folder holding the dataset")
    parser.add_argument("--budgets", type=int, nargs="+", default=[40, 250],
                        help="images to label in all")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    args = parser.parse_args()
    spec = SweepSpec()
    data = SemiSupervisedDataModule(**read_config(args.config, args.data_root)["data"])
    cache, _ = held_out(build_cache(data, args.run_dir, spec), 0.1, spec)
    graph, codes = cache.graph, cache.codes[cache.pool]
    spaces = {"directions, not standardised again": unit(standardised(codes)),
              "codes (kmeans until 2026-12-02)": standardised(codes),
              **{f"codes smoothed {t} steps": standardised(graph.smooth(graph.codes, t).numpy())
                 for t in (1, 2, 4)}}
    truth, num_classes = cache.targets[cache.test].numpy(), len(cache.classes)
    held_codes = torch.from_numpy(cache.codes[cache.test]).float()

    def accuracy(chosen: np.ndarray) -> dict[str, float]:
        lab, y = cache.pool[chosen], cache.targets[cache.pool[chosen]]
        spread = graph.propagate(chosen, y, num_classes, spec.propagation_alpha)
        smoothed = cache.smoothed(few_label_smoothing(len(lab), len(cache.pool)))
        probs = {"smoothed codes + linear head": probes.head_on_features(
                     "linear", torch.from_numpy(smoothed[lab]), y,
                     torch.from_numpy(smoothed[cache.test]), num_classes, spec.head_steps,
                     spec.head_lr),
                 "label propagation": graph.extend(spread, held_codes)}
        return {row: float((p.argmax(1) == truth).mean()) for row, p in probs.items()}

    for budget in args.budgets:
        scores: dict[str, list[dict]] = {}
        for seed in args.seeds:
            picks = {"random": select(codes, budget, "random", seed),
                     "kmeans on directions (kmeans)": select(codes, budget, "kmeans", seed),
                     **{f"kmeans on {name}": nearest_centres(torch.from_numpy(space), budget, seed)
                        for name, space in spaces.items()}}
            for name, chosen in picks.items():
                scores.setdefault(name, []).append(accuracy(np.asarray(chosen)))
        print(json.dumps({"run": args.run_dir, "budget": budget, "seeds": args.seeds,
                          **{name: {row: mean_std([s[row] for s in runs]) for row in runs[0]}
                             for name, runs in scores.items()}},
                         ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
