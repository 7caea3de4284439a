"""How strongly the heads on frozen codes should be regularised, on the held-out development
metric of ``dev_score.py`` (test split untouched).

A seeded tenth of the non-test images is held out of everything, as the test split is; a
labeled draw of ``k`` per class among the rest trains a linear head on the codes, the smoothed
codes and the spectral features, and an MLP head on the codes (as the sweep's rows do:
``ClassifierModule``, full batch, AdamW, 200 steps), at several AdamW weight decays (0.001, the
default until 2026-12-02, among them) and at ``c / sqrt(k)`` for several ``c`` (the default
now: ``c`` = 10); and scikit-learn's logistic regression on each of those features and on the
pixels at several ``C``. The held-out images score them.

    python benchmarks/head_regularisation.py RUN_DIR --config configs/cifar10/pretrain.yaml \\
        --data.root DATA --k 25 [--seeds 0 1 2]
"""
from __future__ import annotations

import numpy as np
import torch

from ssl_ae.data import SemiSupervisedDataModule
from ssl_ae.data.splits import Split
from ssl_ae.evaluation import probes
from ssl_ae.evaluation.sweep import SweepSpec, build_cache

from common import print_scores, read_config
from dev_score import held_out, parser

WEIGHT_DECAYS = [1e-3, 1.0, 3.0, 10.0]
DECAY_SCALES = [5.0, 10.0, 20.0]
INVERSE_STRENGTHS = [0.01, 0.1, 1.0]


def main() -> None:
    args = parser(__doc__).parse_args()
    spec = SweepSpec()
    data = SemiSupervisedDataModule(**read_config(args.config, args.data_root)["data"])
    cache, avoid = held_out(build_cache(data, args.run_dir, spec), 0.1, spec)
    held, truth = cache.test, cache.targets[cache.test].numpy()
    num_classes = len(cache.classes)
    scores: dict[str, list[float]] = {}
    decays = {**{f"weight decay {wd}": wd for wd in WEIGHT_DECAYS},
              **{f"weight decay {c} / sqrt(k)": c / args.k ** 0.5 for c in DECAY_SCALES}}

    def pixels_of(rows: np.ndarray) -> np.ndarray:
        return probes.images_to_float(cache.images[torch.as_tensor(rows)]).flatten(1).numpy()

    held_pixels = pixels_of(held)
    for seed in args.seeds:
        lab = np.asarray(Split.make(cache.targets.numpy(), args.k, seed, test=avoid).labeled)
        y = cache.targets[lab]
        pixels = pixels_of(lab)
        probs = {f"logistic regression on pixels, C {c}": probes.logistic_regression(
            pixels, y.numpy(), held_pixels, num_classes, C=c) for c in INVERSE_STRENGTHS}
        for name, features in {"codes": cache.codes.astype(np.float32),
                               "smoothed codes": cache.smoothed,
                               "spectral features": cache.spectral}.items():
            train, test = torch.from_numpy(features[lab]), torch.from_numpy(features[held])
            heads = ["linear", "mlp"] if name == "codes" else ["linear"]
            for head in heads:
                for label, wd in decays.items():
                    probs[f"{head} head on {name}, {label}"] = probes.head_on_features(
                        head, train, y, test, num_classes, spec.head_steps, spec.head_lr,
                        weight_decay=wd)
            for c in INVERSE_STRENGTHS:
                probs[f"logistic regression on {name}, C {c}"] = probes.logistic_regression(
                    features[lab], y.numpy(), features[held], num_classes, C=c)
        for row, p in probs.items():
            scores.setdefault(row, []).append(float((p.argmax(1) == truth).mean()))
    print_scores(scores, run=args.run_dir, k=args.k, seeds=args.seeds)


if __name__ == "__main__":
    main()
