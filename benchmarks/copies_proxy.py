"""Augmented copies of the labeled images for the linear head, on the proxy of
``colour_proxy.py`` (the first N training images of each class, a few epochs of pretraining,
k labeled images per class, the other images scored; the test split is never read).

Each labeled image adds ``copies`` codes of views made by the pretraining objective's own view
maker: its crop and mirror (``crop``), or those with its jitter and noise (``full``). The head is
trained on the standardised codes, or on the smoothed codes (a copy placed in the neighbour
graph as a test image is), at the weight decay of the labeled images' count or of all the
training points.

    python benchmarks/copies_proxy.py fashion_mnist --root DATA --epochs 8 --ks 10 1 --spec SPEC
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import torch
import yaml

from ssl_ae.data.splits import labeled_subset
from ssl_ae.evaluation import probes
from ssl_ae.graph import Graph
from ssl_ae.modules.classifier import few_label_decay
from ssl_ae.objectives.views import resized_crop
from ssl_ae.pipeline import AutoencoderSpec

from colour_proxy import pretrain, subset
from common import mean_std


def standardised(x: np.ndarray, like: np.ndarray) -> np.ndarray:
    return probes.standardize(x, stats_from=like)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", help="a class folder, or a built-in source's name with --root")
    parser.add_argument("--root")
    parser.add_argument("--per-class", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--spec", default="{}", help="AutoencoderSpec fields as YAML")
    parser.add_argument("--ks", type=int, nargs="+", default=[10])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--copies", type=int, nargs="+", default=[8, 32])
    args = parser.parse_args()
    images, y = subset(args.folder, args.per_class, args.root)
    spec = AutoencoderSpec(**yaml.safe_load(args.spec))
    objective = spec.build(tuple(images.shape[1:])).objective
    encoder = pretrain(images, spec, args.epochs, 256).eval()
    raw = probes.encode(encoder, images).numpy()
    codes = standardised(raw, raw)
    graph = Graph.build(torch.from_numpy(codes), 10)
    smoothed = graph.smooth(graph.codes, 1)
    smooth = standardised(smoothed.numpy(), smoothed.numpy())
    classes = int(y.max()) + 1

    def views(x: torch.Tensor, kind: str) -> torch.Tensor:
        x = resized_crop(x.float() / 255, objective.min_area, objective.flip)
        return objective.corrupt(x).clamp(0, 1) if kind == "full" else x

    def accuracy(train: np.ndarray, train_y: np.ndarray, test: np.ndarray, truth: np.ndarray,
                 decay_images: int) -> float:
        proba = probes.head_on_features(
            "linear", torch.from_numpy(train).float(), torch.from_numpy(train_y),
            torch.from_numpy(test).float(), classes, 200, 3e-2,
            weight_decay=few_label_decay(decay_images, classes))
        return float((proba.argmax(1) == truth).mean())

    for k in args.ks:
        rows: dict[str, list[float]] = {}
        for seed in args.seeds:
            lab = np.sort(labeled_subset(y, np.arange(len(y)), k, seed))
            rest = np.setdiff1d(np.arange(len(y)), lab)
            for name, features in (("codes", codes), ("smoothed codes", smooth)):
                rows.setdefault(f"{name}, no copies", []).append(
                    accuracy(features[lab], y[lab], features[rest], y[rest], len(lab)))
            torch.manual_seed(seed)
            for kind in ("crop", "full"):
                for copies in args.copies:
                    with torch.no_grad():
                        copy_raw = encoder(views(images[lab].repeat(copies, 1, 1, 1), kind)).numpy()
                    copy_codes = standardised(copy_raw, raw)
                    placed = graph.place(torch.from_numpy(copy_codes).float(), smoothed).numpy()
                    copy_smooth = standardised(placed, smoothed.numpy())
                    train_y = np.concatenate([y[lab], np.tile(y[lab], copies)])
                    for name, features, extra in (("codes", codes, copy_codes),
                                                  ("smoothed codes", smooth, copy_smooth)):
                        train = np.concatenate([features[lab], extra])
                        for decay in ("labeled", "all"):
                            rows.setdefault(f"{name} + {copies} {kind} views, decay of {decay}",
                                            []).append(accuracy(
                                train, train_y, features[rest], y[rest],
                                len(lab) if decay == "labeled" else len(train_y)))
        print(json.dumps({"k": k, "epochs": args.epochs,
                          **{name: mean_std(v) for name, v in rows.items()}},
                         ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
