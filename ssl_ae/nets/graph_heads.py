"""Heads fitted to the unlabeled images' neighbour graph: a linear layer on what the graph of
their frozen codes gives a new code (see :mod:`ssl_ae.graph`).

- :class:`SpectralHead`: the code's place in the Laplacian eigenmap (``ssl-ae evaluate``'s
  spectral-features row).
- :class:`SmoothedHead`: the code carried to the graph's smoothed codes (its smoothed-codes row).

Both :meth:`GraphHead.fit` to the unlabeled codes before training; what they fit is held in
buffers, so a checkpoint rebuilds them without the unlabeled images.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ..graph import Eigenmap, Graph, moments, neighbour_mean, nystrom
from .standardized import StandardizedHead


class GraphHead(StandardizedHead):
    """A linear layer on graph features of a code standardised by the unlabeled codes'
    statistics. A subclass says what the graph's images' features are (:meth:`fit_graph`) and
    how a new code gets its own (:meth:`place`).

    Args:
        in_dim: code size.
        num_classes: number of classes.
        graph_size: unlabeled images the graph is built on.
        feature_dim: size of the graph features.
        neighbours: edges per image of the neighbour graph.
        buffers: the subclass's fitted tensors, name -> shape.
    """

    def __init__(self, in_dim: int, num_classes: int, graph_size: int, feature_dim: int,
                 neighbours: int, buffers: dict[str, tuple[int, ...]]):
        super().__init__(in_dim)
        self.neighbours = neighbours
        shapes = {"graph_codes": (graph_size, in_dim), "feature_mean": (feature_dim,),
                  "feature_std": (feature_dim,), **buffers}
        for name, shape in shapes.items():
            self.register_buffer(name, torch.ones(shape))
        self.linear = nn.Linear(feature_dim, num_classes)

    @torch.no_grad()
    def fit(self, codes: torch.Tensor) -> "GraphHead":
        """Fit to the unlabeled images' frozen codes (N, in_dim), N = graph_size."""
        if codes.shape != self.graph_codes.shape:
            raise ValueError(f"the {type(self).__name__} was built for "
                             f"{tuple(self.graph_codes.shape)} unlabeled codes but got "
                             f"{tuple(codes.shape)}")
        super().fit(codes)
        graph = Graph.build(self.standardize(codes), self.neighbours)
        feature_mean, feature_std = moments(self.fit_graph(graph))
        for name, value in (("graph_codes", graph.codes), ("feature_mean", feature_mean),
                            ("feature_std", feature_std)):
            getattr(self, name).copy_(value)
        return self

    def fit_graph(self, graph: Graph) -> torch.Tensor:
        """Fill the subclass's buffers from ``graph``; return the graph images' features."""
        raise NotImplementedError

    def place(self, code: torch.Tensor) -> torch.Tensor:
        """Graph features (M, feature_dim) of standardised codes (M, in_dim)."""
        raise NotImplementedError

    def features(self, code: torch.Tensor) -> torch.Tensor:
        """Standardised graph features (M, feature_dim) of codes (M, in_dim)."""
        placed = self.place(self.standardize(code))
        return (placed - self.feature_mean) / self.feature_std

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        return self.linear(self.features(code))


class SpectralHead(GraphHead):
    """A linear layer on a code's place in the Laplacian eigenmap of the unlabeled codes
    (its Nyström extension, :func:`ssl_ae.graph.nystrom`).

    Args:
        dims: eigenvectors kept (default: one per class); the rest as :class:`GraphHead`.
    """

    def __init__(self, in_dim: int, num_classes: int, graph_size: int,
                 dims: Optional[int] = None, neighbours: int = 10):
        dims = dims or num_classes
        super().__init__(in_dim, num_classes, graph_size, dims, neighbours,
                         {"vectors": (graph_size, dims), "values": (dims,)})

    def fit_graph(self, graph: Graph) -> torch.Tensor:
        eigenmap = Eigenmap.fit(graph, self.vectors.shape[1])
        self.vectors.copy_(torch.from_numpy(eigenmap.vectors))
        self.values.copy_(torch.from_numpy(eigenmap.values))
        return self.vectors

    def place(self, code: torch.Tensor) -> torch.Tensor:
        return nystrom(code, self.graph_codes, self.vectors, self.values, self.neighbours)


class SmoothedHead(GraphHead):
    """A linear layer on a code carried to the unlabeled codes smoothed along their graph
    (``Graph.smooth``): the similarity-weighted mean of its nearest graph images' smoothed codes.

    Args:
        steps: lazy random-walk steps of the smoothing; the rest as :class:`GraphHead`.
    """

    def __init__(self, in_dim: int, num_classes: int, graph_size: int, steps: int = 1,
                 neighbours: int = 10):
        if steps < 0:
            raise ValueError(f"the smoothed head takes 0 or more smoothing steps, got {steps}")
        super().__init__(in_dim, num_classes, graph_size, in_dim, neighbours,
                         {"smoothed": (graph_size, in_dim)})
        self.steps = steps

    def fit_graph(self, graph: Graph) -> torch.Tensor:
        self.smoothed.copy_(graph.smooth(graph.codes, self.steps))
        return self.smoothed

    def place(self, code: torch.Tensor) -> torch.Tensor:
        return neighbour_mean(code, self.graph_codes, self.smoothed, self.neighbours)
