"""The spectral head: a linear layer on a code's place in the Laplacian eigenmap of the
unlabeled images' codes (see :mod:`ssl_ae.graph.eigenmap`)."""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ..graph import Eigenmap, Graph, moments, nystrom


class SpectralHead(nn.Module):
    """A linear layer on the spectral features of a frozen code: its place in the eigenmap of
    the unlabeled images' codes (standardised by their statistics, like ``ssl-ae evaluate``'s
    spectral row). Build it for ``graph_size`` unlabeled images, then :meth:`fit` their codes
    before training; the graph's codes and eigenvectors are buffers, so a checkpoint holds them.

    Args:
        in_dim: code size.
        num_classes: number of classes.
        graph_size: unlabeled images the eigenmap is fitted on.
        dims: eigenvectors kept (default: one per class).
        neighbours: edges per image of the neighbour graph.
    """

    def __init__(self, in_dim: int, num_classes: int, graph_size: int,
                 dims: Optional[int] = None, neighbours: int = 10):
        super().__init__()
        dims = dims or num_classes
        self.neighbours = neighbours
        for name, shape in (("code_mean", in_dim), ("code_std", in_dim),
                            ("graph_codes", (graph_size, in_dim)), ("vectors", (graph_size, dims)),
                            ("values", dims), ("feature_mean", dims), ("feature_std", dims)):
            self.register_buffer(name, torch.ones(shape))
        self.linear = nn.Linear(dims, num_classes)

    @torch.no_grad()
    def fit(self, codes: torch.Tensor) -> "SpectralHead":
        """Fit the eigenmap to the unlabeled images' frozen codes (N, in_dim), N = graph_size."""
        if codes.shape != self.graph_codes.shape:
            raise ValueError(f"the spectral head was built for {tuple(self.graph_codes.shape)} "
                             f"unlabeled codes but got {tuple(codes.shape)}")
        mean, std = moments(codes)
        graph = Graph.build((codes - mean) / std, self.neighbours)
        eigenmap = Eigenmap.fit(graph, self.vectors.shape[1])
        vectors = torch.from_numpy(eigenmap.vectors)
        feature_mean, feature_std = moments(vectors)
        for name, value in (("code_mean", mean), ("code_std", std), ("graph_codes", graph.codes),
                            ("vectors", vectors), ("values", torch.from_numpy(eigenmap.values)),
                            ("feature_mean", feature_mean), ("feature_std", feature_std)):
            getattr(self, name).copy_(value)
        return self

    def features(self, code: torch.Tensor) -> torch.Tensor:
        """Standardised spectral features (M, dims) of codes (M, in_dim)."""
        placed = nystrom((code - self.code_mean) / self.code_std, self.graph_codes, self.vectors,
                         self.values, self.neighbours)
        return (placed - self.feature_mean) / self.feature_std

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        return self.linear(self.features(code))
