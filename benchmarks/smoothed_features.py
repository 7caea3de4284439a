"""How many smoothing steps the smoothed-codes head takes, on the held-out development metric
of ``dev_score.py`` (test split untouched).

A seeded tenth of the non-test images is kept out of everything, as the test split is; the
graph and the standardisation are fitted to the rest, the labeled images are drawn from those.
Each graph image's code is averaged with its neighbours' ``t`` times (``Graph.smooth``), a
held-out image takes the weighted mean of its nearest graph images' smoothed codes
(``Graph.place``), and a linear head trained on the labeled images' smoothed codes scores the
held-out ones. Rows: t = 0, 1, 2, 4, 8 (``--steps``), the linear head on the codes themselves,
label propagation, and t = 1 (``--placed``) with the labeled images placed like held-out ones,
as the finetuned ``smoothed`` head places its (augmented) labeled images.

    python benchmarks/smoothed_features.py RUN_DIR --config configs/cifar10/pretrain.yaml \
        --data.root DATA [--k 25] [--seeds 0 1 2] [--held-out 0.1] [--steps 0 1 2 4 8] [--placed 1]
"""
from __future__ import annotations

import numpy as np
import torch

from ssl_ae.data import SemiSupervisedDataModule
from ssl_ae.data.splits import Split
from ssl_ae.evaluation import probes
from ssl_ae.evaluation.sweep import SweepSpec, build_cache, smoothed_codes

from common import print_scores, read_config
from dev_score import held_out, parser


def main() -> None:
    args_parser = parser(__doc__)
    args_parser.add_argument("--held-out", type=float, default=0.1)
    args_parser.add_argument("--steps", type=int, nargs="+", default=[0, 1, 2, 4, 8],
                             help="smoothing step counts to compare")
    args_parser.add_argument("--placed", type=int, nargs="*", default=[1],
                             help="step counts also compared with the labeled images placed")
    args = args_parser.parse_args()
    spec = SweepSpec(propagation_neighbours=args.neighbours, propagation_alpha=args.alpha)
    data = SemiSupervisedDataModule(**read_config(args.config, args.data_root)["data"])
    cache, avoid = held_out(build_cache(data, args.run_dir, spec), args.held_out, spec)
    codes, graph = torch.from_numpy(cache.codes).float(), cache.graph
    features = {"codes": codes.numpy()}
    for steps in args.steps:
        features[f"codes smoothed {steps} steps"] = smoothed_codes(
            graph, cache.codes, cache.pool, cache.test, steps)
    for steps in args.placed:
        smoothed = graph.smooth(graph.codes, steps)
        features[f"codes smoothed {steps} steps, labeled images placed"] = probes.standardize(
            graph.place(codes, smoothed).numpy(), stats_from=smoothed.numpy())[0]
    truth, num_classes = cache.targets[cache.test].numpy(), len(cache.classes)
    scores: dict[str, list[float]] = {}
    for seed in args.seeds:
        lab = np.asarray(Split.make(cache.targets.numpy(), args.k, seed, test=avoid).labeled)
        y = cache.targets[lab]
        probs = {f"linear head on {name}": probes.head_on_features(
            "linear", torch.from_numpy(f[lab]), y, torch.from_numpy(f[cache.test]), num_classes,
            spec.head_steps, spec.head_lr) for name, f in features.items()}
        spread = graph.propagate(np.searchsorted(cache.pool, lab), y, num_classes,
                                 spec.propagation_alpha)
        probs["label propagation"] = graph.extend(spread, codes[cache.test])
        for name, p in probs.items():
            scores.setdefault(name, []).append(float((p.argmax(1) == truth).mean()))
    print_scores(scores, run=args.run_dir, k=args.k, seeds=args.seeds)


if __name__ == "__main__":
    main()
