"""How strongly the linear head on frozen codes should be regularised, on the held-out
development metric of ``dev_score.py`` (test split untouched).

A seeded tenth of the non-test images is held out of everything, as the test split is; a
labeled draw of ``k`` per class among the rest trains a linear head on the codes and on the
smoothed codes (as the sweep's rows do: ``ClassifierModule``, full batch, AdamW, 200 steps),
at several AdamW weight decays (the shipped 0.001 among them), and scikit-learn's logistic
regression at several ``C``; the held-out images score them.

    python benchmarks/head_regularisation.py RUN_DIR --config configs/cifar10/pretrain.yaml \\
        --data.root DATA --k 25 [--seeds 0 1 2]
"""
from __future__ import annotations

import json

import numpy as np
import torch

from ssl_ae.data import SemiSupervisedDataModule
from ssl_ae.data.splits import Split
from ssl_ae.evaluation import probes
from ssl_ae.evaluation.sweep import SweepSpec, build_cache

from common import mean_std, read_config
from dev_score import held_out, parser

WEIGHT_DECAYS = [1e-3, 0.1, 1.0, 3.0, 10.0]
INVERSE_STRENGTHS = [0.01, 0.1, 1.0]


def main() -> None:
    args = parser(__doc__).parse_args()
    spec = SweepSpec()
    data = SemiSupervisedDataModule(**read_config(args.config, args.data_root)["data"])
    cache, avoid = held_out(build_cache(data, args.run_dir, spec), 0.1, spec)
    held, truth = cache.test, cache.targets[cache.test].numpy()
    num_classes = len(cache.classes)
    scores: dict[str, list[float]] = {}
    for seed in args.seeds:
        lab = np.asarray(Split.make(cache.targets.numpy(), args.k, seed, test=avoid).labeled)
        y = cache.targets[lab]
        for name, features in {"codes": cache.codes.astype(np.float32),
                               "smoothed codes": cache.smoothed}.items():
            train, test = torch.from_numpy(features[lab]), torch.from_numpy(features[held])
            probs = {f"linear head on {name}, weight decay {wd}": probes.head_on_features(
                "linear", train, y, test, num_classes, spec.head_steps, spec.head_lr,
                weight_decay=wd) for wd in WEIGHT_DECAYS}
            for c in INVERSE_STRENGTHS:
                probs[f"logistic regression on {name}, C {c}"] = probes.logistic_regression(
                    features[lab], y.numpy(), features[held], num_classes, C=c)
            for row, p in probs.items():
                scores.setdefault(row, []).append(float((p.argmax(1) == truth).mean()))
    print(json.dumps({"run": args.run_dir, "k": args.k, "seeds": args.seeds,
                      **{row: mean_std(v) for row, v in scores.items()}},
                     ensure_ascii=False))


if __name__ == "__main__":
    main()
