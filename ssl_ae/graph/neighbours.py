"""Label propagation on a nearest-neighbour graph of frozen codes (Zhou et al., 2004).

The graph joins every unlabeled (non-test) image to its nearest neighbours by cosine similarity
of the codes; the few labels spread along it, so a class follows the shape of its cluster rather
than a straight boundary. The graph is built once per encoder and reused for every labeled draw.
Test images are never in the graph: each one takes the similarity-weighted label distribution of
its nearest graph images, so test predictions cannot influence each other or the propagation.
The same graph smooths codes for a linear head (``Graph.smooth``, ``Graph.place``).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from .approximate import faiss_available, ivf_nearest

APPROXIMATE_FROM = 200_000  # keys; below, the exact search takes seconds to a minute


def nearest(queries: torch.Tensor, keys: torch.Tensor, neighbours: int, exclude_self: bool = False,
            chunk: int = 1024, approximate: Optional[bool] = None
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices and cosine similarities of the ``neighbours`` most similar ``keys`` of each query.

    Args:
        exclude_self: the queries are the keys; a code is not its own neighbour.
        chunk: queries per block of the exact search (memory: ``chunk x len(keys)``).
        approximate: FAISS's inverted-file search (:mod:`ssl_ae.graph.approximate`) instead of
            the exact one; None chooses it from ``APPROXIMATE_FROM`` keys when FAISS is
            installed.
    """
    if approximate is None:
        approximate = len(keys) >= APPROXIMATE_FROM and faiss_available()
        if len(keys) >= APPROXIMATE_FROM and not approximate:
            warnings.warn(f"exact neighbour search over {len(keys)} codes: its time grows with "
                          "the square of their number; pip install faiss-cpu for the "
                          "approximate search", stacklevel=2)
    if approximate:
        return ivf_nearest(queries, keys, neighbours, exclude_self)
    q, k = F.normalize(queries.float(), dim=1), F.normalize(keys.float(), dim=1)
    index, sims = [], []
    for start in range(0, len(q), chunk):
        s = q[start:start + chunk] @ k.T
        if exclude_self:
            rows = torch.arange(len(s))
            s[rows, rows + start] = -float("inf")
        top = s.topk(min(neighbours, s.shape[1] - exclude_self), dim=1)
        index.append(top.indices)
        sims.append(top.values)
    return torch.cat(index), torch.cat(sims)


@dataclass
class Graph:
    """The graph's images' codes, their symmetric normalised nearest-neighbour affinities
    ``D^-1/2 W D^-1/2`` (sparse N x N), the degrees ``D`` (row sums of ``W``), and the edges per
    image before symmetrisation, which is also how many graph images place a new (test) image.
    Build it with ``Graph.build(codes, neighbours)``."""

    codes: torch.Tensor
    affinity: torch.Tensor
    degree: torch.Tensor
    neighbours: int

    @classmethod
    def build(cls, codes: torch.Tensor, neighbours: int = 10,
              approximate: Optional[bool] = None) -> "Graph":
        """The graph of ``codes``; ``approximate`` as in :func:`nearest`."""
        if len(codes) < 2:
            raise ValueError("a neighbour graph needs at least 2 unlabeled images, got "
                             f"{len(codes)}")
        index, sims = nearest(codes, codes, neighbours, exclude_self=True, approximate=approximate)
        return cls.from_edges(codes, index, sims, neighbours)

    @classmethod
    def from_edges(cls, codes: torch.Tensor, index: torch.Tensor, sims: torch.Tensor,
                   neighbours: int) -> "Graph":
        """The graph whose image i is joined to images ``index[i]`` with similarities
        ``sims[i]`` (what :func:`nearest` returns, without self edges); ``neighbours`` is how
        many graph images place a new image."""
        n = len(codes)
        rows = torch.arange(n).repeat_interleave(index.shape[1])
        weights = sims.flatten().clamp_min(0)
        w = torch.sparse_coo_tensor(torch.stack([rows, index.flatten()]), weights, (n, n),
                                    check_invariants=True)
        w = (w + w.t()).coalesce()  # symmetric: an edge either way counts
        degree = torch.sparse.sum(w, 1).to_dense().clamp_min(1e-12)
        i, v = w.indices(), w.values()
        v = v / (degree[i[0]] * degree[i[1]]).sqrt()
        affinity = torch.sparse_coo_tensor(i, v, (n, n), is_coalesced=True, check_invariants=True)
        return cls(codes, affinity, degree, neighbours)

    def propagate(self, labeled: np.ndarray, labels: torch.Tensor, num_classes: int,
                  alpha: float = 0.99, iterations: int = 50) -> torch.Tensor:
        """Class distributions (N, num_classes) of the graph's images after iterating
        ``F <- alpha * S F + (1 - alpha) * Y`` from the labels of the images at positions
        ``labeled``."""
        seeds = torch.zeros(len(self.codes), num_classes)
        seeds[torch.as_tensor(labeled), labels.long()] = 1.0
        affinity = self.affinity_csr()
        spread = seeds.clone()
        for _ in range(iterations):
            spread = alpha * (affinity @ spread) + (1 - alpha) * seeds
        return normalise_rows(spread)

    def extend(self, spread: torch.Tensor, new_codes: torch.Tensor) -> np.ndarray:
        """Class probabilities of images outside the graph: the similarity-weighted mean of the
        distributions of their nearest graph images."""
        return normalise_rows(self.place(new_codes, spread)).numpy()

    def smooth(self, features: torch.Tensor, steps: int = 1) -> torch.Tensor:
        """The graph images' ``features`` (N, d), each averaged with its neighbours' ``steps``
        times by a lazy random walk, ``x <- (x + D^-1 W x) / 2`` (simplified graph convolution,
        Wu et al. 2019): a code moves towards the middle of its cluster, so a linear boundary
        between clusters needs fewer labels to find."""
        root = self.degree.sqrt()[:, None]  # D^-1 W x = D^-1/2 S D^1/2 x, S the affinity
        affinity = self.affinity_csr()
        for _ in range(steps):
            features = (features + (affinity @ (features * root)) / root) / 2
        return features

    def place(self, new_codes: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """``features`` (N, d) of the graph's images carried to images outside the graph: the
        similarity-weighted mean over each one's nearest graph images (an image with no similar
        one takes their plain mean). New images never influence each other."""
        return neighbour_mean(new_codes, self.codes, features, self.neighbours)

    def affinity_csr(self) -> torch.Tensor:
        """The affinity in compressed sparse rows: products with it are ~9x faster than COO."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Sparse CSR tensor support is in beta")
            return self.affinity.to_sparse_csr()


def neighbour_mean(new_codes: torch.Tensor, graph_codes: torch.Tensor, features: torch.Tensor,
                   neighbours: int) -> torch.Tensor:
    """The similarity-weighted mean of ``features`` (N, d) over each new code's ``neighbours``
    most similar ``graph_codes`` (N, code size); negative similarities count as 0."""
    index, sims = nearest(new_codes, graph_codes, neighbours)
    weights = normalise_rows(sims.clamp_min(0))
    return (weights[..., None] * features[index]).sum(1)


def moments(x):
    """Mean and standard deviation (+ 1e-6) over the rows of ``x``, a numpy array or a tensor:
    the statistics every standardisation of codes and features uses."""
    std = x.std(0, unbiased=False) if isinstance(x, torch.Tensor) else x.std(0)
    return x.mean(0), std + 1e-6


def normalise_rows(p: torch.Tensor) -> torch.Tensor:
    """Rows scaled to sum to 1; a row with no mass (an isolated image) becomes uniform."""
    total = p.sum(1, keepdim=True)
    return torch.where(total > 0, p / total.clamp_min(1e-12), torch.full_like(p, 1 / p.shape[1]))
