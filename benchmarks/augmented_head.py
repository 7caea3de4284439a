"""The linear head trained on the labeled images plus turned, zoomed and shifted copies of them
(still labeled images only), on the development metric of ``dev_score.py``.

    python benchmarks/augmented_head.py RUN_DIR --config configs/mnist/pretrain.yaml \
        --data.root DATA [--k 10] [--seeds 0 1 2]
"""
from __future__ import annotations

import numpy as np
import torch

from ssl_ae.evaluation import probes
from ssl_ae.checkpoints import load_autoencoder
from ssl_ae.objectives.denoising import random_shift, random_turn
from ssl_ae.evaluation.sweep import Cache, SweepSpec

from dev_score import parser, run

COPIES = (0, 10, 50)
encoders: dict[str, tuple] = {}  # per run: the encoder and its raw codes of the pool


def encoder_and_pool_codes(cache: Cache) -> tuple:
    key = str(cache.pretrained)
    if key not in encoders:
        encoder = load_autoencoder(cache.pretrained, tuple(cache.images.shape[1:])).encoder.eval()
        encoders[key] = (encoder, probes.encode(encoder, cache.images[cache.pool] * 255).numpy())
    return encoders[key]


def score_copies(cache: Cache, lab: np.ndarray, held: np.ndarray, spec: SweepSpec) -> dict:
    encoder, pool_codes = encoder_and_pool_codes(cache)
    x, y, truth = cache.images[lab], cache.targets[lab], cache.targets[held].numpy()
    held_codes = torch.from_numpy(cache.codes[held]).float()
    torch.manual_seed(0)
    scores = {}
    for copies in COPIES:
        views = torch.cat([x] + [random_shift(random_turn(x, 20, 0.3), 2) for _ in range(copies)])
        with torch.no_grad():
            raw = encoder(views).numpy()
        codes = torch.from_numpy(probes.standardize(raw, stats_from=pool_codes)[0]).float()
        probs = probes.head_on_features("linear", codes, y.repeat(copies + 1), held_codes,
                                        len(cache.classes), spec.head_steps, spec.head_lr)
        scores[f"linear head, {copies} copies"] = float((probs.argmax(1) == truth).mean())
    return scores


if __name__ == "__main__":
    run(parser(__doc__).parse_args(), score_copies)
