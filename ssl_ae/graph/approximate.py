"""Approximate nearest neighbours for large pools: FAISS's inverted-file index (``faiss-cpu``,
the ``faiss`` extra). The codes are clustered by k-means into about ``4 sqrt(N)`` lists and each
query compares itself with the codes of its ``probes`` nearest lists only, so a graph over
1,000,000 codes costs minutes instead of the exact search's 10^12 similarities. The exact search
stays the reference (tests measure recall against it) and the default for small pools.
"""
from __future__ import annotations

import importlib.util
import math

import numpy as np
import torch
import torch.nn.functional as F


def faiss_available() -> bool:
    return importlib.util.find_spec("faiss") is not None


def ivf_nearest(queries: torch.Tensor, keys: torch.Tensor, neighbours: int,
                exclude_self: bool = False, probes: int = 32, seed: int = 0
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices and cosine similarities of (about) the ``neighbours`` most similar ``keys`` of
    each query, like :func:`ssl_ae.graph.neighbours.nearest`; deterministic for a ``seed``.

    Args:
        probes: inverted lists searched per query: more is slower and closer to exact.
        exclude_self: queries are the keys; a code is not its own neighbour.
    """
    try:
        import faiss
    except ImportError as err:
        raise ImportError("the approximate neighbour search needs FAISS: pip install faiss-cpu "
                          "(or pip install 'ssl_ae[faiss]')") from err
    k = np.ascontiguousarray(F.normalize(keys.float(), dim=1).numpy())
    q = k if exclude_self else np.ascontiguousarray(F.normalize(queries.float(), dim=1).numpy())
    lists = max(1, min(len(k) // 39, round(4 * math.sqrt(len(k)))))  # >= 39 codes per list
    sample = np.random.default_rng(seed).permutation(len(k))[:256 * lists]
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(k.shape[1]), k.shape[1], lists,
                               faiss.METRIC_INNER_PRODUCT)
    index.cp.seed = seed
    index.train(k[np.sort(sample)])
    index.add(k)
    index.nprobe = min(probes, lists)
    wanted = min(neighbours, len(k) - exclude_self)
    sims, found = index.search(q, wanted + exclude_self)
    if exclude_self:  # drop each code's own hit (or, if it was missed, the last one)
        others = found != np.arange(len(q))[:, None]
        keep = np.argsort(~others, axis=1, kind="stable")[:, :wanted]
        sims, found = (np.take_along_axis(a, keep, 1) for a in (sims, found))
    missing = found < 0  # fewer than ``wanted`` codes in the probed lists: no edge
    found[missing], sims[missing] = 0, 0.0
    return torch.from_numpy(found).long(), torch.from_numpy(sims).float()
