"""Issue 22's development proxy: which features of an encoder trained on some classes serve
new ones best. The recipe (``--spec``) trains in colour_proxy.py's plain loop on the first N
training images of each old class; then logistic regression on standardised features of the
first N training images of each new class, k labeled per class, the rest scored, over draws.
The test split is never read.

    python benchmarks/transfer_proxy.py /tmp/data/cifar10/train --old 0 1 2 3 4 --epochs 12 \
        --spec "$(cat SPEC.yaml)"
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
import yaml

from ssl_ae.data.splits import labeled_subset
from ssl_ae.evaluation import probes
from ssl_ae.pipeline import AutoencoderSpec

from colour_proxy import pretrain, subset
from common import mean_std


def features(encoder: torch.nn.Module, images: torch.Tensor) -> dict[str, np.ndarray]:
    """The code, the code layer's input (the body's flat output) and, for a conv encoder, the
    last stage averaged over positions."""
    def batched(fn) -> np.ndarray:
        with torch.no_grad():
            return torch.cat([fn(images[i:i + 1000].float() / 255)
                              for i in range(0, len(images), 1000)]).numpy()

    encoder.eval()
    out = {"code": batched(encoder), "code layer's input": batched(encoder.body)}
    if isinstance(encoder.body[-2], torch.nn.AdaptiveAvgPool2d):  # the grid, then Flatten
        out["last stage averaged"] = batched(lambda x: encoder.body[:-2](x).mean((2, 3)))
    return out


def score(feats: np.ndarray, y: np.ndarray, k: int, draws: int) -> str:
    accuracy = []
    for seed in range(draws):
        lab = np.sort(labeled_subset(y, np.arange(len(y)), k, seed))
        rest = np.setdiff1d(np.arange(len(y)), lab)
        train, test = probes.standardize(feats[lab], feats[rest], stats_from=feats)
        accuracy.append(float((probes.logistic_regression(train, y[lab], test).argmax(1)
                               == y[rest]).mean()))
    return mean_std(accuracy)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", help="a class folder (one subfolder per class)")
    parser.add_argument("--old", type=int, nargs="+", required=True,
                        help="indices of the classes the encoder trains on; the others are new")
    parser.add_argument("--per-class", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--spec", default="{}", help="AutoencoderSpec fields as YAML")
    parser.add_argument("--k", type=int, nargs="+", default=[1, 5], help="labels per class")
    parser.add_argument("--draws", type=int, default=10)
    args = parser.parse_args()
    images, y = subset(args.folder, args.per_class)
    old = np.isin(y, args.old)
    start = time.time()
    encoder = pretrain(images[old], AutoencoderSpec(**yaml.safe_load(args.spec)), args.epochs,
                       args.batch_size)
    print(json.dumps({"spec": args.spec, "epochs": args.epochs,
                      "pretrain_minutes": round((time.time() - start) / 60, 1)}), flush=True)
    new_y = np.unique(y[~old], return_inverse=True)[1]
    for name, feats in features(encoder, images[~old]).items():
        print(json.dumps({"features": name, "dim": feats.shape[1],
                          **{f"k={k}": score(feats, new_y, k, args.draws) for k in args.k}},
                         ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
