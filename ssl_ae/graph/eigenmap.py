"""Spectral features of the frozen codes: the Laplacian eigenmap (Belkin & Niyogi, 2003) of the
unlabeled images' neighbour graph, extended to new images by the Nyström formula (Bengio et al.,
2004).

The leading eigenvectors of the graph's random walk change little along the graph and
a lot across its sparse cuts, which on good codes are the class boundaries, so a linear head on
one eigenvector per class needs few labels (Belkin & Niyogi, 2004). Like PCA, the map is fit on
the unlabeled images alone: it is a fixed layer on top of the frozen encoder, and a head that
reads it is trained on the labeled images only. A new (test) image takes the eigenvector values
of its nearest graph images, so new images never influence each other.
"""
from __future__ import annotations

from dataclasses import dataclass
import numpy as np
import scipy.sparse
import scipy.sparse.linalg
import torch

from .neighbours import Graph, neighbour_mean

DENSE_UP_TO = 2000  # images; beyond this the sparse eigensolver is faster


@dataclass
class Eigenmap:
    """The ``dims`` leading non-constant eigenvectors ``psi`` (N, dims) of a graph's random walk
    ``D^-1 W`` and their eigenvalues. Fit it with ``Eigenmap.fit(graph, dims)``."""

    graph: Graph
    values: np.ndarray
    vectors: np.ndarray

    @classmethod
    def fit(cls, graph: Graph, dims: int) -> "Eigenmap":
        """The eigenmap of ``graph``.

        Args:
            graph: the unlabeled images' neighbour graph.
            dims: eigenvectors kept, at most the graph's images minus 2.
        """
        n = len(graph.codes)
        if not 1 <= dims <= n - 2:
            raise ValueError(f"a spectral embedding of {n} unlabeled images has 1 to {n - 2} "
                             f"dimensions, got {dims}: use fewer dimensions or more images")
        i, v = graph.affinity.indices().numpy(), graph.affinity.values().double().numpy()
        affinity = scipy.sparse.csr_matrix((v, (i[0], i[1])), shape=(n, n))
        if n <= DENSE_UP_TO:
            values, vectors = np.linalg.eigh(affinity.toarray())
        else:  # a fixed start vector makes the result repeatable
            values, vectors = scipy.sparse.linalg.eigsh(affinity, k=dims + 1, which="LA",
                                                        v0=np.ones(n), tol=1e-6)
        order = np.argsort(-values)[1:dims + 1]  # the first is constant: no information
        walk = vectors[:, order] / graph.degree.double().sqrt().numpy()[:, None]  # S's to D^-1 W's
        return cls(graph, values[order].astype(np.float32), walk.astype(np.float32))

    @property
    def diffusion(self) -> np.ndarray:
        """Diffusion coordinates (N, dims) after 4 steps of the walk: each eigenvector scaled by
        its eigenvalue to the 4th power, so the smooth directions of the graph count most and
        the noisy ones little."""
        return self.vectors * self.values ** 4

    def transform(self, new_codes: torch.Tensor) -> np.ndarray:
        """Features (M, dims) of images outside the graph (see :func:`nystrom`)."""
        return nystrom(new_codes, self.graph.codes, torch.from_numpy(self.vectors),
                       torch.from_numpy(self.values), self.graph.neighbours).numpy()


def nystrom(new_codes: torch.Tensor, graph_codes: torch.Tensor, vectors: torch.Tensor,
            values: torch.Tensor, neighbours: int) -> torch.Tensor:
    """The Nyström extension of eigenvectors ``vectors`` (N, dims) of a graph's random walk to
    new images: the eigenvector equation ``psi_i = sum_j W_ij psi_j / (d_i lambda)`` with the new
    image's similarities to its ``neighbours`` nearest graph images as its row of ``W``."""
    return neighbour_mean(new_codes, graph_codes, vectors, neighbours) / values
