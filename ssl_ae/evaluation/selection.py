"""Choosing which unlabeled images to label, from their frozen codes alone (labels never used).

- ``random``: a seeded uniform draw (the baseline; a user cannot stratify by unknown classes).
- ``kmeans``: k-means with one cluster per image to label, on the directions of the
  standardised codes (each at unit length: what the neighbour graph's cosine similarity
  compares), standardised again; the image nearest each centre is chosen, so the picks are
  representative and spread out.
- ``spectral``: the same in the diffusion coordinates of the codes' neighbour graph (the graph
  that label propagation and the spectral head use: its eigenvectors scaled by powers of
  their eigenvalues), where clusters follow the data's manifold.

>>> picks = select(codes, budget=20, method="kmeans", seed=0)  # doctest: +SKIP
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from ..graph import Eigenmap, Graph
from .probes import standardize

METHODS = ("random", "kmeans", "spectral")


def kmeans_centres(x: torch.Tensor, k: int, seed: int, iterations: int = 30) -> torch.Tensor:
    """Centres of a seeded k-means (k-means++ start, Lloyd steps) of the rows of ``x``."""
    generator = torch.Generator().manual_seed(seed)
    centres = x[torch.randint(len(x), (1,), generator=generator)]
    nearest = (x - centres).pow(2).sum(1)
    tries = 2 + int(np.log(k))
    for _ in range(1, k):  # greedy k-means++: of a few draws ~ d^2, the one that helps most
        weights = nearest if float(nearest.sum()) > 0 else torch.ones_like(nearest)  # all alike
        picks = torch.multinomial(weights, tries, replacement=True, generator=generator)
        after = torch.minimum(nearest[None], torch.cdist(x[picks], x) ** 2)
        best = int(after.sum(1).argmin())
        centres = torch.cat([centres, x[picks[best]][None]])
        nearest = after[best]
    for _ in range(iterations):
        assign = torch.cdist(x, centres).argmin(1)
        sums = torch.zeros_like(centres).index_add_(0, assign, x)
        counts = torch.bincount(assign, minlength=k).unsqueeze(1)
        moved = torch.where(counts > 0, sums / counts.clamp_min(1), centres)
        if torch.allclose(moved, centres):
            break
        centres = moved
    return centres


def nearest_distinct(x: torch.Tensor, centres: torch.Tensor) -> np.ndarray:
    """For each centre the nearest row of ``x`` not already taken by an earlier centre."""
    candidates = torch.cdist(centres, x).topk(min(len(centres), len(x)), largest=False).indices
    chosen: list[int] = []
    taken: set[int] = set()
    for row in candidates.tolist():  # at most len(centres) - 1 of a row can be taken
        pick = next(i for i in row if i not in taken)
        chosen.append(pick)
        taken.add(pick)
    return np.asarray(chosen)


def nearest_centres(x: torch.Tensor, k: int, seed: int) -> np.ndarray:
    """The rows of ``x`` nearest the centres of a seeded k-means with ``k`` clusters, distinct."""
    return nearest_distinct(x, kmeans_centres(x, k, seed))


def select(codes: np.ndarray, budget: int, method: str = "kmeans", seed: int = 0,
           neighbours: int = 10, dims: int = 10,
           eigenmap: Optional[np.ndarray] = None) -> np.ndarray:
    """Indices (rows of ``codes``) of ``budget`` images to label.

    Args:
        codes: frozen codes of the unlabeled pool, (N, D).
        budget: how many images to label (1 to N).
        method: ``random``, ``kmeans`` or ``spectral``.
        seed: seed of the draw or of k-means.
        neighbours: edges per image of the ``spectral`` method's graph.
        dims: eigenvectors of that graph kept (the sweep keeps one per class).
        eigenmap: the pool's diffusion coordinates (``Eigenmap.diffusion``), if already
            computed (``spectral``).
    """
    n = len(codes)
    if method not in METHODS:
        raise ValueError(f"unknown selection method {method!r}; known: {', '.join(METHODS)}")
    if not 1 <= budget <= n:
        raise ValueError(f"budget {budget}: choose between 1 and the {n} unlabeled images")
    if method == "random":
        return np.sort(np.random.default_rng(seed).choice(n, budget, replace=False))
    if method == "kmeans":
        x = torch.from_numpy(standardize(np.asarray(codes, np.float32), stats_from=codes)[0])
        directions = F.normalize(x, dim=1).numpy()
        x = torch.from_numpy(standardize(directions, stats_from=directions)[0])
    else:
        if eigenmap is None:  # as the sweep's: the graph of the standardised codes
            x = standardize(np.asarray(codes, np.float32), stats_from=codes)[0]
            eigenmap = Eigenmap.fit(Graph.build(torch.from_numpy(x), neighbours),
                                    min(dims, n - 2)).diffusion
        x = torch.from_numpy(np.asarray(eigenmap, np.float32))
    return np.sort(nearest_centres(x, budget, seed))
