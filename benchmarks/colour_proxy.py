"""The quick proxy of the colour-recipe search: a few epochs on N training images of a class
folder (e.g. CIFAR-10's train/), scored on those same images, so a variant costs minutes on 2
cores. The test split is never read.

The package's ``AutoencoderSpec`` builds the autoencoder and its ``AutoencoderModule`` (lr,
weight decay, one-cycle schedule) trains it in a plain loop at 32-bit precision. Then for each
seed, k labeled images per class are drawn from the N and the other images are scored:
logistic regression on their standardised codes and label propagation over all N codes.

    python benchmarks/colour_proxy.py DATA/train --per-class 1000 --epochs 4 \
        --spec '{encoder: conv, code_dim: 128, encoder_kwargs: {widths: [32, 64, 128]}, ...}'
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
import yaml

from ssl_ae.evaluation import probes
from ssl_ae.data.folders import load_folder
from ssl_ae.data.sources import load_source
from ssl_ae.data.splits import labeled_subset
from ssl_ae.modules.autoencoder import one_cycle
from ssl_ae.pipeline import AutoencoderSpec
from ssl_ae.graph import Graph
from ssl_ae.evaluation.sweep import SweepSpec

from common import mean_std


def subset(folder: str, per_class: int, root: str | None = None,
           image_size: int | None = None) -> tuple[torch.Tensor, np.ndarray]:
    """The first ``per_class`` images of every class (file order), uint8, and their labels, from
    a class folder (resized to ``image_size`` if given), or from a built-in source's training
    images when ``root`` is given."""
    if root is None:
        source = load_folder(folder, image_size=image_size)
    else:
        source = load_source(folder, root)
        keep_train = np.setdiff1d(np.arange(len(source.targets)), source.test)
        source.images, source.targets = source.images[keep_train], source.targets[keep_train]
    keep = np.concatenate([np.flatnonzero(source.targets == c)[:per_class]
                           for c in range(len(source.classes))])
    return source.images[keep], source.targets[keep]


def pretrain(images: torch.Tensor, spec: AutoencoderSpec, epochs: int, batch_size: int) -> torch.nn.Module:
    torch.manual_seed(0)
    module = spec.build(tuple(images.shape[1:])).train()
    optimizer = torch.optim.AdamW(module.parameters(), spec.lr, weight_decay=spec.weight_decay)
    batches = len(images) // batch_size
    schedule = one_cycle(optimizer, spec.lr, epochs * batches)
    for _ in range(epochs):
        order = torch.randperm(len(images))
        for i in range(batches):
            x = images[order[i * batch_size:(i + 1) * batch_size]].float() / 255
            loss = module.objective(module.encoder, module.decoder,
                                    x.contiguous(memory_format=torch.channels_last))["loss"]
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    return module.encoder


def score(codes: np.ndarray, y: np.ndarray, k: int, seeds: list[int]) -> dict:
    """Mean ± std over seeds of each row's accuracy on the images that were not labeled."""
    spec = SweepSpec()
    graph = Graph.build(torch.from_numpy(codes), spec.propagation_neighbours)
    rows: dict[str, list[float]] = {"logistic regression": [], "label propagation": []}
    for seed in seeds:
        lab = np.sort(labeled_subset(y, np.arange(len(y)), k, seed))
        rest = np.setdiff1d(np.arange(len(y)), lab)
        train, test = probes.standardize(codes[lab], codes[rest], stats_from=codes)
        rows["logistic regression"].append(
            float((probes.logistic_regression(train, y[lab], test).argmax(1) == y[rest]).mean()))
        spread = graph.propagate(lab, torch.from_numpy(y[lab]), int(y.max()) + 1,
                                 spec.propagation_alpha)
        rows["label propagation"].append(float((np.asarray(spread)[rest].argmax(1) == y[rest]).mean()))
    return {name: mean_std(v) for name, v in rows.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", help="a class folder (one subfolder per class), or a built-in "
                        "source's name (e.g. fashion_mnist) with --root")
    parser.add_argument("--root", help="data root of a built-in source (its test split is skipped)")
    parser.add_argument("--per-class", type=int, default=1000)
    parser.add_argument("--image-size", type=int, help="resize a class folder's images to this side")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--spec", default="{}", help="AutoencoderSpec fields as YAML")
    parser.add_argument("--k", type=int, default=25, help="labels per class")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--flip-average", action="store_true",
                        help="also score the codes averaged with those of the mirrored images")
    args = parser.parse_args()
    images, y = subset(args.folder, args.per_class, args.root, args.image_size)
    spec = AutoencoderSpec(**yaml.safe_load(args.spec))
    start = time.time()
    encoder = pretrain(images, spec, args.epochs, args.batch_size)
    minutes = (time.time() - start) / 60
    with torch.no_grad():
        codes = probes.encode(encoder, images).numpy()
        mirrored = probes.encode(encoder, images.flip(-1)).numpy() if args.flip_average else None
    print(json.dumps({"spec": args.spec, "epochs": args.epochs, "side": images.shape[-1],
                      "images": len(y), "k": args.k, "pretrain_minutes": round(minutes, 1),
                      **score(codes, y, args.k, args.seeds)},
                     ensure_ascii=False), flush=True)
    if mirrored is not None:
        print(json.dumps({"codes": "averaged with the mirrored image's",
                          **score((codes + mirrored) / 2, y, args.k, args.seeds)}), flush=True)


if __name__ == "__main__":
    main()
