"""The label-propagation variants of the MNIST search that did not win, on the development
metric of ``dev_score.py`` (test split untouched).

Rows: label propagation as shipped; the same on codes averaged over the image and its four
one-pixel shifts (test-time augmentation); and self-training, a linear or MLP head trained on
the non-test images with the labels propagation gave them (the labeled images keep their own),
either all of them or only the more confident half.

    python benchmarks/propagation_variants.py RUN_DIR \
        --config configs/mnist/pretrain.yaml --data.root DATA [--k 10] [--seeds 0 1 2]
"""
from __future__ import annotations

import numpy as np
import torch

from ssl_ae.evaluation import probes
from ssl_ae.checkpoints import load_autoencoder
from ssl_ae.graph import Graph
from ssl_ae.evaluation.sweep import Cache, SweepSpec

from dev_score import parser, run

SHIFTS = [(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)]
SELF_TRAINING_STEPS, SELF_TRAINING_BATCH = 600, 512
shifted_graphs: dict[str, Graph] = {}  # built once per encoder, reused by every draw


def shifted_view_graph(cache: Cache, neighbours: int) -> Graph:
    """The graph over codes averaged over the shifted views of each non-test image."""
    key = str(cache.pretrained)
    if key not in shifted_graphs:
        encoder = load_autoencoder(cache.pretrained, tuple(cache.images.shape[1:])).encoder
        pixels = cache.images * 255  # encode() takes 0-255 values
        codes = np.mean([probes.encode(encoder, torch.roll(pixels, shift, (2, 3))).numpy()
                         for shift in SHIFTS], 0)
        codes = probes.standardize(codes, stats_from=codes[cache.pool])[0]
        shifted_graphs[key] = Graph.build(torch.from_numpy(codes[cache.pool]), neighbours)
    return shifted_graphs[key]


def score_variants(cache: Cache, lab: np.ndarray, held: np.ndarray, spec: SweepSpec) -> dict:
    y, truth = cache.targets[lab], cache.targets[held].numpy()
    num_classes = len(cache.classes)
    lab_at, held_at = np.searchsorted(cache.pool, lab), np.searchsorted(cache.pool, held)
    spread = cache.graph.propagate(lab_at, y, num_classes, spec.propagation_alpha)
    shifted = shifted_view_graph(cache, spec.propagation_neighbours).propagate(
        lab_at, y, num_classes, spec.propagation_alpha)
    scores = {"label propagation": spread[held_at], "label propagation, shifted views": shifted[held_at]}
    confidence, pseudo = spread.max(1)
    pseudo[lab_at] = y
    codes = torch.from_numpy(cache.codes).float()
    for share, chosen in [("all", np.arange(len(cache.pool))),
                          ("confident half", np.union1d(confidence.argsort(descending=True)
                                                        [:len(cache.pool) // 2].numpy(), lab_at))]:
        for head in ("linear", "mlp"):
            scores[f"self-training, {head} head, {share}"] = probes.head_on_features(
                head, codes[cache.pool[chosen]], pseudo[chosen], codes[held], num_classes,
                SELF_TRAINING_STEPS, spec.head_lr, batch_size=SELF_TRAINING_BATCH)
    return {name: float((np.asarray(p).argmax(1) == truth).mean()) for name, p in scores.items()}


if __name__ == "__main__":
    run(parser(__doc__).parse_args(), score_variants)
