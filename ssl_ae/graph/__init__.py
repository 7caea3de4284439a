"""Neighbour graphs of codes and the algorithms on them: label propagation, the Laplacian
eigenmap and its Nyström extension. Plain torch, numpy and scipy; no Lightning, no data."""
from .eigenmap import Eigenmap, nystrom
from .neighbours import Graph, moments, nearest, neighbour_mean, normalise_rows

__all__ = ["Eigenmap", "Graph", "moments", "nearest", "neighbour_mean", "normalise_rows",
           "nystrom"]
